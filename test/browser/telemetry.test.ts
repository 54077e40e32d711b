/**
 * The SDK's telemetry in real Chromium against a real coordinator: after a
 * few predictions and labelled corrections, closing the page's Flock sends one
 * batch from the outbox with exposure (model-loaded), latency, confidence,
 * label counts, labelled feedback and feature summaries, all stored by the
 * coordinator for the running version — what canary analysis and drift read.
 */
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMnistModel } from '../../shared/model/index.ts';
import { sampleInputs, startHarness, type BrowserHarness } from './harness.ts';

declare const Flock: typeof import('../../client/index.ts');

const NAME_SHIM = 'window.__name = (f) => f;';
const INPUTS = sampleInputs(4, 784, 5);

describe('flock.min.js telemetry', () => {
  let h: BrowserHarness;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    h = await startHarness();
    const model = createMnistModel('mlp-small', { seed: 9 });
    expect(await h.pushModel('telemetry-digits', model)).toBe(1);
    model.dispose();
  }, 180_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await h?.close();
  });

  it('sends exposure, latency, confidence, predictions, feedback and feature summaries for the running version', async () => {
    context = await h.browser.newContext();
    await context.addInitScript(NAME_SHIM);
    // No rollout runs a shadow: the manifest says so, and the SDK never asks (no 404 in the console).
    const shadowRequests: string[] = [];
    const notFound: string[] = [];
    context.on('request', (r) => void (r.url().includes('/shadow') && shadowRequests.push(r.url())));
    context.on('response', (r) => void (r.status() === 404 && notFound.push(r.url())));
    const page = await context.newPage();
    await page.goto(h.origin);
    const result = await page.evaluate(async (inputs) => {
      const flock = await Flock.connect({
        url: location.origin,
        app: 'telemetry-digits',
        backend: 'wasm',
        autoUpdate: false,
      });
      const labels: number[] = [];
      for (const input of inputs) labels.push((await flock.predict(new Float32Array(input))).label);
      // Two corrections agree with the model, one does not.
      await flock.record(new Float32Array(inputs[0]), labels[0]);
      await flock.record(new Float32Array(inputs[1]), labels[1]);
      await flock.record(new Float32Array(inputs[2]), (labels[2] + 1) % 10);
      const deviceId = (await flock.status()).deviceId;
      await flock.close();
      return { deviceId, labels };
    }, INPUTS);

    expect(shadowRequests).toEqual([]);
    expect(notFound).toEqual([]);
    const events = await h.coordinator.deps.store.listTelemetry({ app: 'telemetry-digits', version: 1, limit: 100 });
    expect(events.every((e) => e.deviceId === result.deviceId)).toBe(true);
    const byKind = new Map(events.map((e) => [e.kind, e.payload as Record<string, unknown>]));
    expect(byKind.get('model-loaded')).toMatchObject({ version: 1, backend: 'wasm', fromCache: false });
    expect(byKind.get('feedback')).toMatchObject({ correct: 2, incorrect: 1 });
    expect((byKind.get('latency') as { count: number }).count).toBeGreaterThanOrEqual(4);
    const counts = (byKind.get('predictions') as { counts: Record<string, number> }).counts;
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(4);
    const confidence = (byKind.get('confidence') as { histogram: { counts: number[] } }).histogram.counts;
    expect(confidence.reduce((a, b) => a + b, 0)).toBe(4);
    const features = byKind.get('feature-summary') as { count: number; features: unknown[] };
    expect(features.count).toBe(4);
    expect(features.features).toHaveLength(16);
  }, 120_000);

  it("runs a rollout's shadow version on sampled predictions and reports agreement, never its answers", async () => {
    for (const seed of [10, 11]) {
      const model = createMnistModel('mlp-small', { seed });
      const res = await h.pushModel('telemetry-digits', model);
      model.dispose();
      expect(res).toBeGreaterThan(1);
    }
    // pushModel promotes to production: put v1 back as production, v2 candidate, v3 the shadow.
    const admin = { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' };
    for (const [version, stage] of [
      [1, 'production'],
      [2, 'candidate'],
      [3, 'candidate'],
    ] as const) {
      const r = await fetch(`${h.origin}/v1/admin/models/telemetry-digits/versions/${version}/stage`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ stage }),
      });
      expect(r.status).toBe(200);
    }
    const started = await fetch(`${h.origin}/v1/admin/rollouts`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        app: 'telemetry-digits',
        candidateVersion: 2,
        stages: [1],
        shadow: { version: 3, sampleRate: 1 },
      }),
    });
    expect(started.status).toBe(201);

    context = await h.browser.newContext();
    await context.addInitScript(NAME_SHIM);
    const shadowAnswers: number[] = [];
    context.on(
      'response',
      (r) => void (r.url().endsWith('/v1/apps/telemetry-digits/shadow') && shadowAnswers.push(r.status())),
    );
    const page = await context.newPage();
    await page.goto(h.origin);
    const shown = await page.evaluate(async (inputs) => {
      const flock = await Flock.connect({
        url: location.origin,
        app: 'telemetry-digits',
        backend: 'wasm',
        autoUpdate: false,
      });
      await flock.checkForUpdate(); // resolves once the shadow assignment is loaded too
      const shadowVersion = (await flock.status()).shadowVersion;
      const labels: number[] = [];
      for (const input of inputs) labels.push((await flock.predict(new Float32Array(input))).label);
      const version = (await flock.status()).modelVersion;
      await flock.close(); // waits for the comparisons still running, then sends the last batch
      return { labels, version, shadowVersion };
    }, INPUTS);
    expect([1, 2]).toContain(shown.version);
    expect(shown.shadowVersion).toBe(3);
    // This rollout's manifests advertise the shadow, so the SDK asked for it, and found it.
    expect(shadowAnswers.length).toBeGreaterThan(0);
    expect(shadowAnswers.every((status) => status === 200)).toBe(true);

    const events = await h.coordinator.deps.store.listTelemetry({
      app: 'telemetry-digits',
      version: shown.version!,
      kind: 'shadow',
      limit: 100,
    });
    expect(events.length).toBeGreaterThanOrEqual(1);
    const shadow = events[events.length - 1].payload as { shadowVersion: number; count: number; agreed: number };
    expect(shadow.shadowVersion).toBe(3);
    expect(shadow.count).toBe(INPUTS.length);
    expect(shadow.agreed).toBeLessThanOrEqual(shadow.count);
  }, 120_000);
});
