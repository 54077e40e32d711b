/**
 * Inference in headless Chromium (loopback coordinator, the script-tag SDK):
 * latency per backend for the demo model (mlp-small), Flock `predict` against
 * raw tfjs `model.predict` on the same backend in the same page (adjacent
 * blocks, many pairs, the median of per-pair ratios with its 95% CI; issue
 * 15 goal 5 asks <= 1.05x on wasm), optionally an older SDK build side by
 * side (FLOCK_BENCH_BASELINE_SDK), the automatic backend choice against the
 * fastest measured, and download bytes plus cold/warm start to first
 * prediction per weight variant.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { createMnistModel, partsFromModel } from '../../shared/model/index.ts';
import { sampleInputs, startHarness, type BrowserHarness } from '../browser/harness.ts';
import { median, type BenchTable, type Benchmark } from './bench-types.ts';

declare const Flock: typeof import('../../client/index.ts');

/** FLOCK_BENCH_BACKENDS=wasm,cpu measures only those (default: all four). */
const BACKENDS = (process.env.FLOCK_BENCH_BACKENDS?.split(',') ?? ['wasm', 'webgpu', 'webgl', 'cpu']).filter(Boolean);
/**
 * FLOCK_BENCH_BASELINE_SDK=<folder with an older flock.min.js and its wasm files> (e.g. a git worktree's
 * dist/flock): on wasm the same pairs also run in a second page on that SDK, chunks alternating between the
 * two pages, so an SDK change is measured before/after in one run.
 */
const BASELINE_SDK = process.env.FLOCK_BENCH_BASELINE_SDK;
/** FLOCK_BENCH_PREDICT_ONLY=1 skips the backend-choice and cold-start tables. */
const PREDICT_ONLY = process.env.FLOCK_BENCH_PREDICT_ONLY === '1';
/** tsx (esbuild keepNames) wraps named functions in page.evaluate bodies with __name, which pages lack. */
export const NAME_SHIM = 'window.__name = (f) => f;';
const INPUTS = 120;
/** A block lasts about this long: 100 µs clock steps (no cross-origin isolation) stay ~1% of it. */
const BLOCK_TARGET_MS = 10;
const MIN_BLOCK = 3;
const MAX_BLOCK = 400;
/** Time spent on timed pairs per backend (and per page when a baseline SDK runs too). */
const PAIRS_BUDGET_MS = 8_000;
const MIN_PAIRS = 20;
const MAX_PAIRS = 400;
/** A call longer than TRIM_FACTOR x the raw path's median ms/call (and than TRIM_FLOOR_MS) was descheduled. */
const TRIM_FACTOR = 5;
const TRIM_FLOOR_MS = 1;
/** Pairs per page.evaluate; with a baseline SDK the two pages take turns chunk by chunk. */
const CHUNK_PAIRS = 20;

type Artifacts = { topology: unknown; specs: unknown; weights: number[] };

interface PairTimes {
  /** ms per call of each Flock block, and of the raw block next to it (same index = one pair). */
  flock: number[];
  raw: number[];
  flockCalls: number[];
  rawCalls: number[];
}

/**
 * Connects the page's Flock on `backend`, loads the same weights as a raw tfjs model, warms both and keeps
 * them on the page for `runPairs`; returns the backend Flock runs on and a first guess of ms per call.
 */
function setUpPage(
  page: Page,
  backend: string | null,
  artifacts: Artifacts,
  inputs: number[][],
  extra: { calibrate?: boolean } = {},
): Promise<{ backend: string; perCallMs: number }> {
  return page.evaluate(
    async ({ backend, artifacts, inputs, extra }) => {
      const tf = Flock.tf;
      // batchWindowMs 0 and no cache: the fair setting for one caller awaiting each answer.
      const flock = await Flock.connect({
        url: location.origin,
        app: 'digits',
        variant: 'fp32',
        batchWindowMs: 0,
        cacheSize: 0,
        ...extra,
        ...(backend ? { backend: backend as 'wasm' } : {}),
      });
      const raw = await tf.loadLayersModel(
        tf.io.fromMemory({
          modelTopology: artifacts.topology as object,
          weightSpecs: artifacts.specs as never,
          weightData: new Float32Array(artifacts.weights).buffer,
        }),
      );
      const xs = inputs.map((v) => new Float32Array(v));
      const rawPredict = async (x: Float32Array) => {
        const t = tf.tensor(x, [1, 784]);
        const y = raw.predict(t) as import('@tensorflow/tfjs').Tensor;
        await y.data();
        t.dispose();
        y.dispose();
      };
      // The first calls compile kernels: warm up, then time a few more for the block size.
      for (let i = 0; i < 20; i++) {
        await flock.predict(xs[i]);
        await rawPredict(xs[i]);
      }
      // The fastest of 15 groups of 10 calls: on a loaded machine most groups are descheduled at some point,
      // and blocks sized from those would last far less than BLOCK_TARGET_MS when the machine is quiet.
      const groups: number[] = [];
      for (let g = 0; g < 15; g++) {
        const t0 = performance.now();
        for (let i = 0; i < 5; i++) {
          await flock.predict(xs[i]);
          await rawPredict(xs[i]);
        }
        groups.push((performance.now() - t0) / 10);
      }
      const perCallMs = Math.min(...groups);
      (window as unknown as { bench: unknown }).bench = { flock, raw, rawPredict, xs, k: 0 };
      return { backend: (await flock.status()).backend as string, perCallMs };
    },
    { backend, artifacts, inputs, extra },
  );
}

/**
 * `pairs` pairs of blocks of `block` sequential awaited calls, a Flock block and a raw block, on distinct
 * inputs (no cache hits); which one goes first alternates pair by pair (ABBA...), so drift, GC and the other
 * tenants of the machine hit both alike, and a pair's ratio compares two blocks ~10 ms apart.
 */
function runPairs(page: Page, pairs: number, block: number): Promise<PairTimes> {
  return page.evaluate(
    async ({ pairs, block }) => {
      type Bench = {
        flock: { predict: (x: Float32Array) => Promise<unknown> };
        rawPredict: (x: Float32Array) => Promise<void>;
        xs: Float32Array[];
        k: number;
      };
      const b = (window as unknown as { bench: Bench }).bench;
      const out = { flock: [] as number[], raw: [] as number[], flockCalls: [] as number[], rawCalls: [] as number[] };
      const flockPredict = (x: Float32Array) => b.flock.predict(x);
      const runBlock = async (f: (x: Float32Array) => Promise<unknown>, calls: number[]) => {
        const t0 = performance.now();
        let last = t0;
        for (let i = 0; i < block; i++) {
          await f(b.xs[b.k++ % b.xs.length]);
          const now = performance.now();
          calls.push(now - last);
          last = now;
        }
        return (last - t0) / block;
      };
      for (let p = 0; p < pairs; p++) {
        if (p % 2 === 0) {
          out.flock.push(await runBlock(flockPredict, out.flockCalls));
          out.raw.push(await runBlock(b.rawPredict, out.rawCalls));
        } else {
          out.raw.push(await runBlock(b.rawPredict, out.rawCalls));
          out.flock.push(await runBlock(flockPredict, out.flockCalls));
        }
      }
      return out;
    },
    { pairs, block },
  );
}

async function tearDownPage(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const b = (window as unknown as { bench: { flock: { close(): Promise<void> }; raw: { dispose(): void } } }).bench;
    await b.flock.close();
    b.raw.dispose();
  });
}

/** A context whose page loads the SDK from `sdkDir` instead of the harness's build (for a baseline SDK). */
async function pageOn(h: BrowserHarness, sdkDir?: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await h.browser.newContext();
  await context.addInitScript(NAME_SHIM);
  if (sdkDir)
    await context.route('**/sdk/*', (route) => {
      const file = basename(new URL(route.request().url()).pathname);
      const path = join(sdkDir, file);
      if (!existsSync(path)) return route.fulfill({ status: 404 });
      return route.fulfill({
        body: readFileSync(path),
        contentType: file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript',
      });
    });
  const page = await context.newPage();
  await page.goto(h.origin);
  return { context, page };
}

const quantile = (values: number[], q: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/**
 * The median of per-pair ratios with its spread: the interquartile range and a 95% confidence interval of
 * the median from order statistics (ranks n/2 -+ 0.98 sqrt(n)), which needs no assumption about the
 * distribution of the ratios (they have long tails when the machine is shared).
 */
export function ratioSummary(
  flock: number[],
  raw: number[],
): {
  median: number;
  iqr: string;
  ci95: string;
} {
  const ratios = flock.map((f, i) => f / raw[i]).sort((a, b) => a - b);
  const n = ratios.length;
  const lo = ratios[Math.max(0, Math.floor(n / 2 - 0.98 * Math.sqrt(n)))];
  const hi = ratios[Math.min(n - 1, Math.ceil(n / 2 + 0.98 * Math.sqrt(n)))];
  return {
    median: median(ratios),
    iqr: `${quantile(ratios, 0.25).toFixed(3)}-${quantile(ratios, 0.75).toFixed(3)}`,
    ci95: `${lo.toFixed(3)}-${hi.toFixed(3)}`,
  };
}

/**
 * Each block's mean over its calls no longer than `cutoffMs`, and the share of calls dropped. On 2 cores
 * shared with other jobs Chromium's main thread is descheduled for milliseconds at a time, which lands in one
 * block and not its pair; a call that long is the scheduler's, not the code's (a minor GC here takes well
 * under the cutoff, so Flock's own garbage still counts).
 */
export function trimmedBlocks(calls: number[], block: number, cutoffMs: number): { means: number[]; dropped: number } {
  const means: number[] = [];
  let dropped = 0;
  for (let start = 0; start + block <= calls.length; start += block) {
    let sum = 0;
    let kept = 0;
    for (let i = start; i < start + block; i++) {
      if (calls[i] <= cutoffMs) {
        sum += calls[i];
        kept++;
      } else dropped++;
    }
    means.push(kept > 0 ? sum / kept : Number.NaN);
  }
  return { means, dropped: dropped / calls.length };
}

const load1 = () => loadavg()[0];

function concat(into: PairTimes, more: PairTimes): void {
  into.flock.push(...more.flock);
  into.raw.push(...more.raw);
  into.flockCalls.push(...more.flockCalls);
  into.rawCalls.push(...more.rawCalls);
}

/**
 * Sets up one page per SDK (the harness's build, and the baseline's when given), sizes the blocks from the
 * first page's warm-up, and runs the pairs in chunks, the pages taking turns.
 */
async function measureBackend(
  h: BrowserHarness,
  backend: string | null,
  artifacts: Artifacts,
  inputs: number[][],
  options: { extra?: { calibrate?: boolean }; baselineSdk?: string; budgetMs?: number } = {},
): Promise<{ backend: string; block: number; loadBefore: number; loadAfter: number; runs: PairTimes[] }> {
  const sdks = [undefined, ...(options.baselineSdk ? [options.baselineSdk] : [])];
  const pages = [] as { context: BrowserContext; page: Page }[];
  try {
    for (const sdk of sdks) pages.push(await pageOn(h, sdk));
    const setups = [];
    for (const { page } of pages) setups.push(await setUpPage(page, backend, artifacts, inputs, options.extra));
    const perCall = Math.max(setups[0].perCallMs, 0.01);
    const block = Math.max(MIN_BLOCK, Math.min(MAX_BLOCK, Math.round(BLOCK_TARGET_MS / perCall)));
    const budget = options.budgetMs ?? PAIRS_BUDGET_MS;
    const pairs = Math.max(MIN_PAIRS, Math.min(MAX_PAIRS, Math.round(budget / (2 * block * perCall))));
    const runs = pages.map(() => ({ flock: [], raw: [], flockCalls: [], rawCalls: [] }) as PairTimes);
    const loadBefore = load1();
    for (let done = 0, turn = 0; done < pairs; done += CHUNK_PAIRS, turn++) {
      const n = Math.min(CHUNK_PAIRS, pairs - done);
      // Rotate which page goes first in each round of chunks.
      for (let j = 0; j < pages.length; j++) {
        const i = (j + turn) % pages.length;
        concat(runs[i], await runPairs(pages[i].page, n, block));
      }
    }
    const loadAfter = load1();
    for (const { page } of pages) await tearDownPage(page);
    return { backend: setups[0].backend, block, loadBefore, loadAfter, runs };
  } finally {
    for (const { context } of pages) await context.close();
  }
}

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
      const inputs = sampleInputs(INPUTS, 784);
      const latency: BenchTable = {
        title: 'predict, mlp-small fp32, one caller: Flock vs raw tfjs in adjacent blocks (median of per-pair ratios)',
        columns: [
          'backend',
          'sdk',
          'calls/block',
          'pairs',
          'flock ms/call',
          'raw tfjs ms/call',
          'overhead (ratio)',
          '95% CI of median',
          'IQR',
          'overhead, long calls dropped',
          'its 95% CI',
          'its IQR',
          'calls dropped flock/raw',
          'flock p99',
          'raw p99',
          'load 1-min',
        ],
        rows: [],
      };
      const perCall: Record<string, number> = {};
      for (const backend of BACKENDS) {
        try {
          const baselineSdk = backend === 'wasm' ? BASELINE_SDK : undefined;
          const m = await measureBackend(h, backend, artifacts, inputs, { baselineSdk });
          // One cutoff for both paths and both SDKs: 5x the raw path's median block, at least 1 ms.
          const cutoffMs = Math.max(TRIM_FLOOR_MS, TRIM_FACTOR * median(m.runs[0].raw));
          m.runs.forEach((run, i) => {
            const r = ratioSummary(run.flock, run.raw);
            const flockTrim = trimmedBlocks(run.flockCalls, m.block, cutoffMs);
            const rawTrim = trimmedBlocks(run.rawCalls, m.block, cutoffMs);
            const kept = flockTrim.means.flatMap((f, j) => (Number.isNaN(f + rawTrim.means[j]) ? [] : [j]));
            const t = ratioSummary(
              kept.map((j) => flockTrim.means[j]),
              kept.map((j) => rawTrim.means[j]),
            );
            if (i === 0) perCall[m.backend] = median(run.flock);
            latency.rows.push({
              backend: m.backend,
              sdk: i === 0 ? 'this tree' : 'baseline',
              'calls/block': m.block,
              pairs: run.flock.length,
              'flock ms/call': median(run.flock),
              'raw tfjs ms/call': median(run.raw),
              'overhead (ratio)': r.median,
              '95% CI of median': r.ci95,
              IQR: r.iqr,
              'overhead, long calls dropped': t.median,
              'its 95% CI': t.ci95,
              'its IQR': t.iqr,
              'calls dropped flock/raw': `${(100 * flockTrim.dropped).toFixed(1)}%/${(100 * rawTrim.dropped).toFixed(1)}%`,
              'flock p99': quantile(run.flockCalls, 0.99),
              'raw p99': quantile(run.rawCalls, 0.99),
              'load 1-min': `${m.loadBefore.toFixed(2)}-${m.loadAfter.toFixed(2)}`,
            });
          });
        } catch (error) {
          latency.rows.push({ backend, 'calls/block': `failed: ${(error as Error).message.slice(0, 60)}` });
        }
      }
      latency.notes = [
        `a pair is two adjacent blocks of sequential awaited calls, one Flock, one raw, the order swapped every pair; a block lasts ~${BLOCK_TARGET_MS} ms (${MIN_BLOCK}-${MAX_BLOCK} calls), ~${PAIRS_BUDGET_MS / 1000} s of pairs per backend (${MIN_PAIRS}-${MAX_PAIRS})`,
        'overhead = median over pairs of (Flock ms/call / raw ms/call); 95% CI of that median from order statistics; IQR of the per-pair ratios',
        `long calls dropped: the same with each block's calls longer than ${TRIM_FACTOR}x the raw median block (at least ${TRIM_FLOOR_MS} ms) left out of its mean (descheduling by other jobs; a minor GC is shorter)`,
        'Flock with batchWindowMs: 0 and cacheSize: 0; raw = tf.tensor + model.predict + await data() + dispose; Flock adds validation, copy, queue, argmax, telemetry',
        BASELINE_SDK
          ? `baseline = the SDK in FLOCK_BENCH_BASELINE_SDK (${BASELINE_SDK}), in a second page; the two pages take turns every ${CHUNK_PAIRS} pairs`
          : 'set FLOCK_BENCH_BASELINE_SDK to a folder with an older flock.min.js to measure it side by side on wasm',
        'load 1-min = os.loadavg()[0] before-after the timed pairs (2 cores shared with other jobs)',
      ];

      if (PREDICT_ONLY) return [latency];
      const auto: BenchTable = {
        title: 'backend chosen automatically vs fastest measured (flock ms/call)',
        columns: ['choice', 'backend', 'ms/call', 'ratio to fastest'],
        rows: [],
      };
      try {
        const [fastest, best] = Object.entries(perCall).sort((a, b) => a[1] - b[1])[0];
        auto.rows.push({ choice: 'fastest measured', backend: fastest, 'ms/call': best, 'ratio to fastest': 1 });
        for (const [choice, extra] of [
          ['by capability', {}],
          ['calibrate: true', { calibrate: true }],
        ] as const) {
          const m = await measureBackend(h, null, artifacts, inputs, { extra, budgetMs: 2_000 });
          const flockMs = median(m.runs[0].flock);
          auto.rows.push({ choice, backend: m.backend, 'ms/call': flockMs, 'ratio to fastest': flockMs / best });
        }
      } catch (error) {
        auto.rows.push({ choice: `failed: ${(error as Error).message.slice(0, 60)}` });
      }

      const cold: BenchTable = {
        title: 'download bytes and start to first prediction, FedAvg CNN on wasm',
        columns: ['variant', 'downloaded bytes', 'cold start ms', 'warm start ms (IndexedDB)', 'bytes ratio to fp32'],
        rows: [],
      };
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
            if (new URL(r.url()).pathname.startsWith('/v1/blobs/'))
              void r.body().then(
                (b) => (bytes += b.length),
                () => {},
              );
          });
          await page.goto(h.origin);
          const start = (v: string) =>
            page.evaluate(async (v) => {
              const t0 = performance.now();
              const flock = await Flock.connect({
                url: location.origin,
                app: 'cnn',
                backend: 'wasm',
                variant: v as 'fp32',
                autoUpdate: false,
              });
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
          cold.rows.push({
            variant,
            'downloaded bytes': downloaded,
            'cold start ms': coldMs,
            'warm start ms (IndexedDB)': warmMs,
            'bytes ratio to fp32': downloaded / fp32Bytes,
          });
        } finally {
          await ctx.close();
        }
      }
      cold.notes = [
        'cold = fresh browser context: register, manifest, topology and shard downloads over loopback, verify, IndexedDB, first predict',
        'warm = page reloaded in the same context: model from IndexedDB (wasm binary from the HTTP cache)',
        'FedAvg CNN: 1,663,370 params',
      ];
      return [latency, auto, cold];
    } finally {
      await h.close();
    }
  },
};

export default bench;
