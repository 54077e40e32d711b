/**
 * Inference in headless Chromium (loopback coordinator, the script-tag SDK):
 * latency p50/p99 per backend for the demo model (mlp-small), Flock `predict`
 * against raw tfjs `model.predict` on the same backend in the same page, the
 * automatic backend choice against the fastest measured, and download bytes
 * plus cold/warm start to first prediction per weight variant.
 */
import type { Page } from 'playwright-core';
import { createMnistModel, partsFromModel } from '../../shared/model/index.ts';
import { sampleInputs, startHarness } from '../browser/harness.ts';
import type { BenchTable, Benchmark } from './bench-types.ts';

declare const Flock: typeof import('../../client/index.ts');

const BACKENDS = ['wasm', 'webgpu', 'webgl', 'cpu'] as const;
/** tsx (esbuild keepNames) wraps named functions in page.evaluate bodies with __name, which pages lack. */
export const NAME_SHIM = 'window.__name = (f) => f;';
const CALLS = 120;

type Latency = { flock: number[]; raw: number[]; backend: string };

/** Alternates Flock and raw calls on distinct inputs (no cache hits) and returns per-call ms. */
function measure(page: Page, backend: string | null, artifacts: { topology: unknown; specs: unknown; weights: number[] }, inputs: number[][]): Promise<Latency> {
  return page.evaluate(
    async ({ backend, artifacts, inputs }) => {
      const tf = Flock.tf;
      // batchWindowMs 0 and no cache: the fair setting for one caller awaiting each answer.
      const flock = await Flock.connect({ url: location.origin, app: 'digits', variant: 'fp32', batchWindowMs: 0, cacheSize: 0, ...(backend ? { backend: backend as 'wasm' } : {}) });
      const weightData = new Float32Array(artifacts.weights).buffer;
      const raw = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: artifacts.topology as object, weightSpecs: artifacts.specs as never, weightData }));
      const rawPredict = async (x: Float32Array) => {
        const t = tf.tensor(x, [1, 784]);
        const y = raw.predict(t) as import('@tensorflow/tfjs').Tensor;
        await y.data();
        t.dispose();
        y.dispose();
      };
      for (let i = 0; i < 10; i++) {
        await flock.predict(new Float32Array(inputs[i]));
        await rawPredict(new Float32Array(inputs[i]));
      }
      const out = { flock: [] as number[], raw: [] as number[], backend: (await flock.status()).backend as string };
      for (let i = 0; i < inputs.length; i++) {
        const x = new Float32Array(inputs[i]);
        const a = performance.now();
        await flock.predict(x);
        const b = performance.now();
        await rawPredict(x.slice());
        out.flock.push(b - a);
        out.raw.push(performance.now() - b);
      }
      await flock.close();
      raw.dispose();
      return out;
    },
    { backend, artifacts, inputs },
  );
}

const quantile = (values: number[], q: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

const bench: Benchmark = {
  name: 'browser-inference',
  async run(): Promise<BenchTable[]> {
    const h = await startHarness();
    try {
      const model = createMnistModel('mlp-small', { seed: 3 });
      await h.pushModel('digits', model);
      const parts = partsFromModel(model);
      model.dispose();
      const artifacts = {
        topology: parts.topology,
        specs: parts.weightSpecs.map((s) => ({ ...s, dtype: 'float32' })),
        weights: parts.weights.flatMap((w) => Array.from(w)),
      };
      const inputs = sampleInputs(CALLS, 784);
      const latency: BenchTable = { title: 'predict latency, mlp-small fp32, one caller (ms)', columns: ['backend', 'flock p50', 'flock p99', 'raw tfjs p50', 'raw tfjs p99', 'overhead p50 (ratio)'], rows: [] };
      const p50: Record<string, number> = {};
      for (const backend of BACKENDS) {
        const context = await h.browser.newContext();
        await context.addInitScript(NAME_SHIM);
        try {
          const page = await context.newPage();
          await page.goto(h.origin);
          const m = await measure(page, backend, artifacts, inputs);
          p50[m.backend] = quantile(m.flock, 0.5);
          latency.rows.push({ backend: m.backend, 'flock p50': quantile(m.flock, 0.5), 'flock p99': quantile(m.flock, 0.99), 'raw tfjs p50': quantile(m.raw, 0.5), 'raw tfjs p99': quantile(m.raw, 0.99), 'overhead p50 (ratio)': quantile(m.flock, 0.5) / quantile(m.raw, 0.5) });
        } catch (error) {
          latency.rows.push({ backend, 'flock p50': `failed: ${(error as Error).message.slice(0, 60)}` });
        } finally {
          await context.close();
        }
      }
      latency.notes = [`${CALLS} calls per backend after 10 warm-up calls, Flock and raw alternating on the same inputs in the same page`, 'Flock with batchWindowMs: 0 and cacheSize: 0 (one awaiting caller; the cache would answer repeats without the model)', 'raw = tf.tensor + model.predict + await data() + dispose; Flock adds input validation, batching queue, argmax, latency sketch'];

      const context = await h.browser.newContext();
        await context.addInitScript(NAME_SHIM);
      const auto: BenchTable = { title: 'backend chosen automatically vs fastest measured (flock p50, ms)', columns: ['choice', 'backend', 'p50', 'ratio to fastest'], rows: [] };
      try {
        const page = await context.newPage();
        await page.goto(h.origin);
        const m = await measure(page, null, artifacts, inputs.slice(0, 60));
        const [fastest, best] = Object.entries(p50).sort((a, b) => a[1] - b[1])[0];
        auto.rows.push({ choice: 'fastest measured', backend: fastest, p50: best, 'ratio to fastest': 1 });
        auto.rows.push({ choice: 'automatic', backend: m.backend, p50: quantile(m.flock, 0.5), 'ratio to fastest': quantile(m.flock, 0.5) / best });
      } finally {
        await context.close();
      }

      const cold: BenchTable = { title: 'download bytes and start to first prediction, FedAvg CNN on wasm', columns: ['variant', 'downloaded bytes', 'cold start ms', 'warm start ms (IndexedDB)', 'bytes ratio to fp32'], rows: [] };
      const cnn = createMnistModel('cnn', { seed: 5 });
      await h.pushModel('cnn', cnn);
      cnn.dispose();
      let fp32Bytes = 0;
      for (const variant of ['fp32', 'fp16', 'int8'] as const) {
        const ctx = await h.browser.newContext();
        await ctx.addInitScript(NAME_SHIM);
        try {
          const page = await ctx.newPage();
          let bytes = 0;
          page.on('response', (r) => {
            if (new URL(r.url()).pathname.startsWith('/v1/blobs/')) void r.body().then((b) => (bytes += b.length), () => {});
          });
          await page.goto(h.origin);
          const start = (v: string) =>
            page.evaluate(async (v) => {
              const t0 = performance.now();
              const flock = await Flock.connect({ url: location.origin, app: 'cnn', backend: 'wasm', variant: v as 'fp32', autoUpdate: false });
              await flock.predict(new Float32Array(784).fill(0.5));
              const ms = performance.now() - t0;
              await flock.close();
              return ms;
            }, v);
          const coldMs = await start(variant);
          await new Promise((r) => setTimeout(r, 200));
          const downloaded = bytes;
          await page.reload();
          const warmMs = await start(variant);
          if (variant === 'fp32') fp32Bytes = downloaded;
          cold.rows.push({ variant, 'downloaded bytes': downloaded, 'cold start ms': coldMs, 'warm start ms (IndexedDB)': warmMs, 'bytes ratio to fp32': downloaded / fp32Bytes });
        } finally {
          await ctx.close();
        }
      }
      cold.notes = ['cold = fresh browser context: register, manifest, topology and shard downloads over loopback, verify, IndexedDB, first predict', 'warm = page reloaded in the same context: model from IndexedDB (wasm binary from the HTTP cache)', 'FedAvg CNN: 1,663,370 params'];
      return [latency, auto, cold];
    } finally {
      await h.close();
    }
  },
};

export default bench;
