/**
 * The SDK's exposure telemetry in real Chromium against a real coordinator:
 * a page that stays open, idle, across the start of a rollout loads nothing
 * new, yet its heartbeats make it an exposed control device of the stage; and
 * its predictions carry a bounded reservoir of raw latencies (`samplesMs`)
 * that reach the control cohort's summary.
 */
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCohorts } from '../../coordinator/rollouts/rollout-telemetry.ts';
import { createMnistModel } from '../../shared/model/index.ts';
import { sampleInputs, startHarness, type BrowserHarness } from './harness.ts';

declare const Flock: typeof import('../../client/index.ts');
declare global {
  interface Window {
    flock?: Awaited<ReturnType<typeof Flock.connect>>;
  }
}

const NAME_SHIM = 'window.__name = (f) => f;';
const APP = 'heartbeat-digits';
const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('flock.min.js heartbeat and latency samples', () => {
  let h: BrowserHarness;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    h = await startHarness();
    for (const seed of [21, 22]) {
      const model = createMnistModel('mlp-small', { seed });
      await h.pushModel(APP, model);
      model.dispose();
    }
    // pushModel promotes each push: v1 back to production, v2 the candidate.
    const admin = { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' };
    for (const [version, stage] of [
      [1, 'production'],
      [2, 'candidate'],
    ] as const) {
      const r = await fetch(`${h.origin}/v1/admin/models/${APP}/versions/${version}/stage`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ stage }),
      });
      expect(r.status).toBe(200);
    }
  }, 180_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await h?.close();
  });

  it('an idle page left open across a rollout start is exposed by its heartbeats, and its latencies reach the summary', async () => {
    const store = h.coordinator.deps.store;
    context = await h.browser.newContext();
    await context.addInitScript(NAME_SHIM);
    const page = await context.newPage();
    await page.goto(h.origin);
    const deviceId = await page.evaluate(async (app) => {
      window.flock = await Flock.connect({
        url: location.origin,
        app,
        backend: 'wasm',
        telemetry: { intervalMs: 200, heartbeatMs: 600 },
      });
      return (await window.flock.status()).deviceId;
    }, APP);
    const rows = (kind: string, since?: string) =>
      store
        .listTelemetry({ app: APP, version: 1, kind, since, limit: 1000 })
        .then((r) => r.filter((e) => e.deviceId === deviceId));
    await until('the model-loaded event', async () => (await rows('model-loaded')).length === 1);

    // A rollout starts while the page stays open: 0.01% canary, so this device is control and keeps v1.
    const started = await fetch(`${h.origin}/v1/admin/rollouts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ app: APP, candidateVersion: 2, stages: [0.01, 100], minStageSeconds: 3600 }),
    });
    expect(started.status).toBe(201);
    const rollout = (await store.getRollout(((await started.json()) as { id: string }).id))!;
    await until(
      'two heartbeats in the stage',
      async () => (await rows('heartbeat', rollout.stageStartedAt)).length >= 2,
    );
    const beats = await rows('heartbeat', rollout.stageStartedAt);
    expect(beats[0].payload).toMatchObject({ type: 'heartbeat', backend: 'wasm' });
    expect((beats[0].payload as { generation: number }).generation).toBeGreaterThanOrEqual(1);
    expect(await rows('model-loaded', rollout.stageStartedAt)).toEqual([]); // nothing loaded in the stage
    const idle = await readCohorts(store, rollout);
    expect(idle.control.exposedDevices).toBe(1); // counted 0 before heartbeats: exposure was 'model-loaded' since the stage began
    expect(idle.canary.exposedDevices).toBe(0);

    // Predictions: the next batches carry their raw latencies.
    const predicted = await page.evaluate(
      async (inputs) => {
        for (const input of inputs) await window.flock!.predict(new Float32Array(input));
        return inputs.length;
      },
      sampleInputs(80, 784, 3),
    );
    await until('a latency event', async () => (await rows('latency', rollout.stageStartedAt)).length > 0);
    const latency = (await rows('latency', rollout.stageStartedAt)).flatMap(
      (e) => (e.payload as { samplesMs?: number[] }).samplesMs ?? [],
    );
    expect(latency.length).toBeGreaterThan(0);
    expect(latency.length).toBeLessThanOrEqual(predicted);
    expect(latency.every((ms) => Number.isFinite(ms) && ms > 0)).toBe(true);
    await until(
      'the summary to hold them',
      async () => (await readCohorts(store, rollout)).control.latencySamplesMs.length >= Math.min(latency.length, 64),
    );
    await page.evaluate(async () => window.flock?.close());
  }, 120_000);
});
