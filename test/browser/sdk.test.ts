/**
 * The script-tag SDK in real Chromium against a real coordinator: inference
 * on wasm and on WebGPU (SwiftShader) matching tfjs in Node, an offline
 * start from IndexedDB, and a tampered shard that is never activated.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createMnistModel, mnistInputShape } from '../../shared/model/index.ts';
import { predictInNode, sampleInputs, startHarness, type BrowserHarness } from './harness.ts';

const INPUTS = sampleInputs(3, 784);
const SHAPE = mnistInputShape('mlp-small');

type PageRun = {
  rows: number[][];
  tfBackend: string;
  status: { backend: string; encoding: string | null; modelVersion: number | null; deviceId: string | null };
};

declare const Flock: typeof import('../../client/index.ts');

/** Connect in the page (keeping the Flock on window.flock) and predict INPUTS. */
function connectAndPredict(
  page: Page,
  options: { app: string; backend?: string; variant?: string; autoUpdate?: boolean },
  inputs = INPUTS,
): Promise<PageRun> {
  return page.evaluate(
    async ({ options, inputs }) => {
      const w = window as unknown as { flock?: Awaited<ReturnType<typeof Flock.connect>> };
      await w.flock?.close();
      const flock = await Flock.connect({
        url: location.origin,
        ...(options as { app: string; backend?: 'wasm' | 'webgpu'; variant?: 'fp32' }),
      });
      w.flock = flock;
      const rows: number[][] = [];
      for (const x of inputs) rows.push(Array.from((await flock.predict(new Float32Array(x))).probabilities));
      return { rows, tfBackend: Flock.tf.getBackend(), status: await flock.status() };
    },
    { options, inputs },
  );
}

function expectClose(actual: number[][], expected: number[][], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => {
    expect(row.length).toBe(expected[i].length);
    row.forEach((v, j) =>
      expect(Math.abs(v - expected[i][j]), `row ${i} class ${j}: ${v} vs ${expected[i][j]}`).toBeLessThan(tolerance),
    );
  });
}

describe('flock.min.js in Chromium', () => {
  let h: BrowserHarness;
  let fp32Expected: number[][];
  let int8Expected: number[][];

  beforeAll(async () => {
    h = await startHarness();
    const model = createMnistModel('mlp-small', { seed: 3 });
    await h.pushModel('digits', model);
    fp32Expected = await predictInNode(model, INPUTS, SHAPE);
    model.dispose();
    const int8 = await h.referenceModel('digits', 'int8');
    int8Expected = await predictInNode(int8, INPUTS, SHAPE);
    int8.dispose();
  }, 180_000);

  afterAll(async () => {
    await h?.close();
  });

  it('predicts on wasm with the int8 variant, as tfjs does in Node', async () => {
    const context = await h.browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(h.origin);
      const run = await connectAndPredict(page, { app: 'digits', backend: 'wasm' });
      expect(run.status).toMatchObject({ backend: 'wasm', encoding: 'int8', modelVersion: 1 });
      expect(run.tfBackend).toBe('wasm');
      expect(run.status.deviceId).toMatch(/\S/);
      expectClose(run.rows, int8Expected, 1e-4);
      // int8 stays near the fp32 original, but is not the same model.
      expectClose(run.rows, fp32Expected, 0.05);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('predicts on WebGPU (SwiftShader) with the fp32 variant, as tfjs does in Node', async () => {
    const context = await h.browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(h.origin);
      const run = await connectAndPredict(page, { app: 'digits', backend: 'webgpu', variant: 'fp32' });
      expect(run.status).toMatchObject({ backend: 'webgpu', encoding: 'fp32', modelVersion: 1 });
      expect(run.tfBackend).toBe('webgpu');
      expectClose(run.rows, fp32Expected, 1e-3);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('starts offline from IndexedDB and predicts with no network request', async () => {
    const context = await h.browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(h.origin);
      const online = await connectAndPredict(page, { app: 'digits', backend: 'wasm' });
      // The coordinator goes away at the route level (setOffline's emulation
      // differs between Chromium builds: navigator.onLine may stay true, and the
      // page may not load from the HTTP cache): every request to the coordinator
      // is aborted and logged; the page and the SDK bundle still load.
      const aborted: string[] = [];
      const answered: string[] = [];
      const coordinatorPath = (url: string) => /^\/(v1\/|healthz)/.test(new URL(url).pathname);
      await context.route(
        (url) => coordinatorPath(url.href),
        (route) => {
          aborted.push(route.request().url());
          return route.abort('internetdisconnected');
        },
      );
      page.on('response', (r) => {
        if (coordinatorPath(r.url())) answered.push(r.url());
      });
      await page.goto(h.origin);
      const started = Date.now();
      const offline = await connectAndPredict(page, { app: 'digits', backend: 'wasm' });
      // The cached model answers at once: no retry chain before the first prediction.
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(offline.status).toMatchObject({ backend: 'wasm', modelVersion: 1, deviceId: online.status.deviceId });
      expectClose(offline.rows, online.rows, 1e-6);
      expect(answered).toEqual([]);
      expect(aborted.every(coordinatorPath)).toBe(true);
      // And the coordinator really is unreachable from this page.
      const reachable = await page.evaluate(() =>
        fetch('/healthz').then(
          () => true,
          () => false,
        ),
      );
      expect(reachable).toBe(false);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('refuses a tampered shard, keeps the old model active, then takes the genuine one', async () => {
    const context = await h.browser.newContext();
    try {
      await h.pushModel('tamper', createMnistModel('mlp-small', { seed: 11 }));
      const page = await context.newPage();
      await page.goto(h.origin);
      // Explicit update checks only: an SSE-triggered background check would be a second refusal to count.
      const first = await connectAndPredict(page, { app: 'tamper', backend: 'wasm', autoUpdate: false });
      expect(first.status.modelVersion).toBe(1);

      const v2Model = createMnistModel('mlp-small', { seed: 12 });
      expect(await h.pushModel('tamper', v2Model)).toBe(2);
      v2Model.dispose();
      let tampered = 0;
      await page.route('**/v1/blobs/**', async (route) => {
        const response = await route.fetch();
        const body = Buffer.from(await response.body());
        body[body.length >> 1] ^= 0xff;
        tampered++;
        await route.fulfill({ response, body });
      });
      const refused = await page.evaluate(async () => {
        const flock = (window as unknown as { flock: Awaited<ReturnType<typeof Flock.connect>> }).flock;
        const events: string[] = [];
        flock.on('error', ({ error }) => events.push(error.message));
        const rejection = await flock.checkForUpdate().then(
          () => null,
          (e: Error & { code?: string }) => ({ code: e.code, message: e.message }),
        );
        const p = await flock.predict(new Float32Array(784).fill(0.5));
        return { rejection, events, status: await flock.status(), predicted: p.probabilities.length };
      });
      expect(tampered).toBeGreaterThan(0);
      expect(refused.rejection?.code).toBe('integrity');
      expect(refused.rejection?.message).toMatch(/SHA-256 does not match.*current model stays active/);
      expect(refused.events).toEqual([refused.rejection?.message]);
      expect(refused.status.modelVersion).toBe(1);
      expect(refused.predicted).toBe(10);

      await page.unroute('**/v1/blobs/**');
      const accepted = await page.evaluate(async () => {
        const flock = (window as unknown as { flock: Awaited<ReturnType<typeof Flock.connect>> }).flock;
        const updated: number[] = [];
        flock.on('model-updated', ({ version }) => updated.push(version));
        const result = await flock.checkForUpdate();
        return { result, updated, status: await flock.status() };
      });
      expect(accepted.result).toEqual({ updated: true, version: 2 });
      expect(accepted.updated).toEqual([2]);
      expect(accepted.status).toMatchObject({ modelVersion: 2, previousModelVersion: 1 });
    } finally {
      await context.close();
    }
  }, 120_000);
});
