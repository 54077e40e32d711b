/**
 * The SDK's less travelled paths in real Chromium against a real coordinator:
 * an update check that sends the manifest's ETag and gets a bodiless 304, a
 * destroyed WebGPU device that Flock answers by rebuilding the model on wasm,
 * and an update trained while the network is cut that waits in the outbox
 * and is counted by the coordinator once the page is back online.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../simulate/datasets/mnist.ts';
import { createMnistModel } from '../../shared/model/index.ts';
import { sampleInputs, startHarness, type BrowserHarness } from './harness.ts';

declare const Flock: typeof import('../../client/index.ts');

/** tsx / vite keepNames may wrap functions in page.evaluate bodies with __name, which pages lack. */
const NAME_SHIM = 'window.__name = (f) => f;';
const INPUT = sampleInputs(1, 784, 11)[0];

type FlockWindow = Window & {
  flock: Awaited<ReturnType<typeof Flock.connect>>;
  flockEvents: Array<{
    type: string;
    during?: string;
    message?: string;
    code?: string;
    roundId?: string;
    uploaded?: boolean;
  }>;
  trainNow: boolean;
  goOffline: () => Promise<void>;
};

describe('flock.min.js in Chromium: ETag, lost WebGPU device, offline outbox', () => {
  let h: BrowserHarness;
  const contexts: BrowserContext[] = [];
  const auth = () => ({ authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' });

  const newPage = async (): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await h.browser.newContext();
    contexts.push(context);
    await context.addInitScript(NAME_SHIM);
    const page = await context.newPage();
    await page.goto(h.origin);
    return { context, page };
  };

  beforeAll(async () => {
    h = await startHarness();
    for (const app of ['digits', 'offline-digits']) {
      const model = createMnistModel('mlp-small', { seed: 3 });
      expect(await h.pushModel(app, model)).toBe(1);
      model.dispose();
    }
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await h?.close();
  });

  it('sends If-None-Match on update checks: 304 while nothing changed, the new version once pushed', async () => {
    const { page } = await newPage();
    const manifestAnswers: number[] = [];
    page.on('response', (r) => {
      if (new URL(r.url()).pathname === '/v1/apps/digits/manifest') manifestAnswers.push(r.status());
    });
    const first = await page.evaluate(async () => {
      const w = window as unknown as FlockWindow;
      w.flock = await Flock.connect({ url: location.origin, app: 'digits', backend: 'wasm' });
      return { check: await w.flock.checkForUpdate(), status: await w.flock.status() };
    });
    expect(first.check).toEqual({ updated: false, version: 1 });
    expect(first.status.modelVersion).toBe(1);
    expect(manifestAnswers).toEqual([200, 304]);

    const model = createMnistModel('mlp-small', { seed: 4 });
    expect(await h.pushModel('digits', model)).toBe(2);
    model.dispose();
    const second = await page.evaluate(async () => {
      const w = window as unknown as FlockWindow;
      const updated = await w.flock.checkForUpdate();
      const again = await w.flock.checkForUpdate();
      await w.flock.close();
      return { updated, again };
    });
    expect(second).toEqual({ updated: { updated: true, version: 2 }, again: { updated: false, version: 2 } });
    expect(manifestAnswers).toEqual([200, 304, 200, 304]);
  }, 60_000);

  it('falls back to wasm when the WebGPU device is destroyed, rebuilding the model from IndexedDB', async () => {
    const { page } = await newPage();
    const r = await page.evaluate(async (input) => {
      const w = window as unknown as FlockWindow;
      w.flockEvents = [];
      w.flock = await Flock.connect({ url: location.origin, app: 'digits', backend: 'webgpu', autoUpdate: false });
      w.flock.on('error', (e) =>
        w.flockEvents.push({
          type: 'error',
          during: e.during,
          message: e.error.message,
          code: (e.error as { code?: string }).code,
        }),
      );
      const before = await w.flock.predict(new Float32Array(input));
      const onWebgpu = { tf: Flock.tf.getBackend(), status: (await w.flock.status()).backend };
      const device = (Flock.tf.backend() as unknown as { device: { destroy(): void } }).device;
      device.destroy();
      const deadline = performance.now() + 20_000;
      while (!w.flockEvents.some((e) => e.during === 'backend') && performance.now() < deadline)
        await new Promise((res) => setTimeout(res, 50));
      const after = await w.flock.predict(new Float32Array(input));
      const status = await w.flock.status();
      await w.flock.close();
      return {
        onWebgpu,
        before: Array.from(before.probabilities),
        after: Array.from(after.probabilities),
        tfAfter: Flock.tf.getBackend(),
        status,
        events: w.flockEvents,
      };
    }, INPUT);
    expect(r.onWebgpu).toEqual({ tf: 'webgpu', status: 'webgpu' });
    expect(r.events).toHaveLength(1);
    expect(r.events[0]).toMatchObject({ during: 'backend', code: 'backend_lost' });
    expect(r.events[0].message).toMatch(/WebGPU device was lost \(destroyed.*switched to wasm/);
    expect(r.tfAfter).toBe('wasm');
    expect(r.status).toMatchObject({ backend: 'wasm', modelVersion: 2 });
    expect(r.status.backendReason).toMatch(/after webgpu failed/);
    // Same stored variant, another backend: the answers agree to float tolerance.
    r.after.forEach((p, i) => expect(Math.abs(p - r.before[i])).toBeLessThan(1e-4));
  }, 60_000);

  it('keeps an update trained offline in the outbox and uploads it once back online', async () => {
    const res = await fetch(`${h.origin}/v1/admin/tasks`, {
      method: 'POST',
      headers: auth(),
      body: JSON.stringify({
        app: 'offline-digits',
        modelVersion: 1,
        plan: {
          population: 1,
          clientsPerRound: 1,
          minReports: 1,
          overSelection: 1,
          roundDeadlineSeconds: 120,
          localEpochs: 3,
          batchSize: 16,
          learningRate: 0.1,
          clipNorm: 5,
          minExamples: 10,
          updateEncoding: { encoding: 'int8' },
        },
      }),
    });
    expect(res.status).toBe(201);
    const taskId = ((await res.json()) as { id: string }).id;
    const { context, page } = await newPage();
    // The page cuts its own network the moment the worker starts training, so the upload cannot race the switch.
    await page.exposeFunction('goOffline', () => context.setOffline(true));
    const data = loadMnist({ split: 'train', limit: 200 });
    const images = Array.from({ length: data.count }, (_, i) =>
      Array.from(data.images.subarray(i * 784, (i + 1) * 784)),
    );

    await page.evaluate(
      async ({ taskId, images, labels }) => {
        const w = window as unknown as FlockWindow;
        w.flockEvents = [];
        w.trainNow = false;
        w.flock = await Flock.connect({
          url: location.origin,
          app: 'offline-digits',
          backend: 'wasm',
          autoUpdate: false,
          train: { tasks: [taskId], eligibility: () => w.trainNow, eligibilityPollMs: 100 },
        });
        for (const type of ['round-started', 'round-finished'] as const)
          w.flock.on(type, (e) =>
            w.flockEvents.push({ type, roundId: e.roundId, ...('uploaded' in e ? { uploaded: e.uploaded } : {}) }),
          );
        for (let i = 0; i < images.length; i++) await w.flock.record(new Float32Array(images[i]), labels[i]);
        new PerformanceObserver((list) => {
          if (list.getEntries().some((e) => e.name === 'flock:train-start')) void w.goOffline();
        }).observe({ type: 'mark' });
        w.trainNow = true;
      },
      { taskId, images, labels: Array.from(data.labels) },
    );

    // Offline: the trained update is in the outbox and the round is not finished.
    // Polled from here: waitForFunction would take an async predicate's promise for a truthy answer.
    const waitUntil = Date.now() + 60_000;
    let seen = { onLine: true, pendingUploads: 0 };
    while (!(seen.onLine === false && seen.pendingUploads >= 1) && Date.now() < waitUntil) {
      seen = await page.evaluate(async () => ({
        onLine: navigator.onLine,
        pendingUploads: (await (window as unknown as FlockWindow).flock.status()).pendingUploads,
      }));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen).toEqual({ onLine: false, pendingUploads: 1 });
    const offline = await page.evaluate(() => (window as unknown as FlockWindow).flockEvents);
    expect(offline.filter((e) => e.type === 'round-finished')).toEqual([]);
    const roundId = offline.find((e) => e.type === 'round-started')?.roundId;
    expect(roundId, JSON.stringify(offline)).toBeDefined();

    await context.setOffline(false);
    await page.waitForFunction(
      () => (window as unknown as FlockWindow).flockEvents.some((e) => e.type === 'round-finished'),
      null,
      { timeout: 60_000, polling: 200 },
    );
    const online = await page.evaluate(async () => ({
      events: (window as unknown as FlockWindow).flockEvents,
      status: await (window as unknown as FlockWindow).flock.status(),
    }));
    expect(online.events.find((e) => e.type === 'round-finished')).toMatchObject({ roundId, uploaded: true });
    expect(online.status.pendingUploads).toBe(0);
    const rounds = (await (await fetch(`${h.origin}/v1/admin/tasks/${taskId}/rounds`, { headers: auth() })).json()) as {
      rounds: Array<{ id: string; reports: number }>;
    };
    expect(rounds.rounds.find((r) => r.id === roundId)).toMatchObject({ reports: 1 });
    await page.evaluate(() => (window as unknown as FlockWindow).flock.close());
  }, 120_000);
});
