/**
 * Aggregation throughput of the coordinator's streaming accumulator against
 * baselines measured in the same run: a `Float32Array.prototype.set` copy
 * (memory-bandwidth ceiling), a plain Float32Array axpy loop
 * (`sum[i] += w * u[i]`), the peer's way (DISCO: hold every contribution as a
 * tensor, chain `tf.add` over them, one `div`) on each tfjs backend, and
 * Flock's accumulator before issue 15 (tfjs ops per update, one norm read per
 * update). Also the peak memory growth while accumulating (O(params), not
 * O(clients x params)) and the robust coordinate median against a
 * sort-per-coordinate loop.
 */
import * as tf from '@tensorflow/tfjs';
import { createAccumulator } from '../../coordinator/aggregation/accumulator.ts';
import { selectAggregationBackend, type AggregationBackendName } from '../../coordinator/aggregation/backend.ts';
import { coordinateMedian } from '../../coordinator/aggregation/robust.ts';
import type { WeightSpec } from '../../coordinator/aggregation/weight-spec.ts';
import { median, timeRepeated, type Benchmark, type BenchTable } from './bench-types.ts';

const PARAMS = 1_000_000;
const UPDATES = 100;
const MEDIAN_UPDATES = 20;
const specs: WeightSpec[] = [{ name: 'dense/kernel', shape: [1000, 1000] }];
// A few distinct updates reused cyclically: holding 100 x 4 MB would measure the harness, not the accumulator.
const pool = Array.from({ length: 4 }, (_, k) =>
  Float32Array.from({ length: PARAMS }, (_, i) => Math.sin(i * 0.001 + k) * 0.01),
);
const MB = 1024 * 1024;
type Track = (bytes: { rss: number; arrayBuffers: number }) => void;

function accumulateOnce(kernel: 'auto' | 'js', track?: Track): void {
  const acc = createAccumulator(specs, { kernel });
  for (let c = 0; c < UPDATES; c++) {
    acc.add([pool[c % pool.length]], 1 + (c % 7));
    if (track) track(process.memoryUsage());
  }
  acc.mean();
  acc.dispose();
}

/** The accumulator's own work when the decoder writes each update into `staging()`: the slot is filled once. */
function accumulateStaged(): void {
  const acc = createAccumulator(specs);
  acc.staging()[0].set(pool[0]);
  for (let c = 0; c < UPDATES; c++) acc.addStaged(1 + (c % 7));
  acc.mean();
  acc.dispose();
}

/** DISCO's averaging: every contribution held as a tensor, then a chain of tf.add and one div. */
function heldTensorChain(track?: Track): void {
  const held: tf.Tensor[] = [];
  for (let c = 0; c < UPDATES; c++) {
    held.push(tf.tensor1d(pool[c % pool.length]));
    if (track) track(process.memoryUsage());
  }
  const mean = tf.tidy(() =>
    tf.div(
      held.slice(1).reduce((sum, t) => tf.add(sum, t), held[0]),
      UPDATES,
    ),
  );
  mean.dataSync();
  if (track) track(process.memoryUsage());
  mean.dispose();
  for (const t of held) t.dispose();
}

/** Flock's accumulator before issue 15: per update an upload, a norm read (a sync), w*u and an assign. */
function tfOpsPerUpdate(track?: Track): void {
  const sum = tf.variable(tf.zeros([PARAMS]), false);
  for (let c = 0; c < UPDATES; c++) {
    const u = tf.tensor1d(pool[c % pool.length]);
    const squared = tf.tidy(() => tf.sum(tf.square(u)));
    if (!Number.isFinite(squared.dataSync()[0])) throw new Error('non-finite');
    squared.dispose();
    tf.tidy(() => sum.assign(tf.add(sum, tf.mul(u, 1 + (c % 7)))));
    u.dispose();
    if (track) track(process.memoryUsage());
  }
  const mean = tf.tidy(() => tf.div(sum, UPDATES));
  mean.dataSync();
  mean.dispose();
  sum.dispose();
}

function plainLoop(): void {
  const sum = new Float32Array(PARAMS);
  for (let c = 0; c < UPDATES; c++) {
    const u = pool[c % pool.length];
    const w = 1 + (c % 7);
    for (let i = 0; i < PARAMS; i++) sum[i] += w * u[i];
  }
}

function setCopy(): void {
  const dst = new Float32Array(PARAMS);
  for (let c = 0; c < UPDATES; c++) dst.set(pool[c % pool.length]);
}

async function available(): Promise<AggregationBackendName[]> {
  const names: AggregationBackendName[] = [];
  for (const name of ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const) {
    try {
      await selectAggregationBackend(name);
      names.push(name);
    } catch {
      /* absent optional backend: not a row */
    }
  }
  return names;
}

/** Median ms of `run` and its peak memory growth over a first, sampled run. */
async function measured(run: (track?: Track) => void, repeats: number) {
  global.gc?.();
  const base = process.memoryUsage();
  let peakRss = 0;
  let peakAb = 0;
  run((m) => {
    peakRss = Math.max(peakRss, m.rss - base.rss);
    peakAb = Math.max(peakAb, m.arrayBuffers - base.arrayBuffers);
  });
  const ms = median(await timeRepeated(() => run(), { repeats, warmup: 0 }));
  return { ms, rssMB: peakRss / MB, abMB: peakAb / MB };
}

type Timing = {
  label: string;
  ms: number;
  rssMB: number | null;
  abMB: number | null;
  ratios?: Record<string, number[]>;
};

/**
 * Times `fns` in interleaved rounds (order rotated each round) and returns per-round
 * times: on a shared machine the load moves between sequential rows, within a round much less.
 */
function interleaved(fns: Array<() => void>, rounds: number): number[][] {
  const times = fns.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < fns.length; j++) {
      const i = (j + r) % fns.length;
      const start = performance.now();
      fns[i]();
      times[i].push(performance.now() - start);
    }
  }
  return times;
}

const ROUNDS = 7;

async function throughput(): Promise<BenchTable> {
  const names = await available();
  const timings: Timing[] = [];
  timings.push({
    label: 'Float32Array loop sum[i] += w*u[i]',
    ms: median(await timeRepeated(plainLoop, { repeats: 3, warmup: 1 })),
    rssMB: null,
    abMB: null,
  });
  for (const name of names.filter((n) => n !== 'wasm')) {
    await selectAggregationBackend(name);
    // The tfjs cpu kernels take ~20 ms per 1M-element binary op: one timed run keeps the bench short.
    const repeats = name === 'cpu' ? 1 : 3;
    timings.push({
      label: `peer (DISCO): hold all, tf.add chain, div on ${name}`,
      ...(await measured(heldTensorChain, repeats)),
    });
    if (name !== 'cpu') {
      timings.push({
        label: `Flock before: tfjs ops + norm sync per update on ${name}`,
        ...(await measured(tfOpsPerUpdate, repeats)),
      });
    }
  }
  await selectAggregationBackend('wasm').catch(() => selectAggregationBackend('cpu'));
  timings.push({
    label: 'Flock accumulator (JS kernel fallback)',
    ...(await measured((t) => accumulateOnce('js', t), 3)),
  });
  timings.push({
    label: 'Flock before: tfjs ops + norm sync per update on wasm',
    ...(await measured(tfOpsPerUpdate, 3)),
  });
  // The headline rows, interleaved: set() copy, the peer's chain and Flock's accumulator, all on wasm.
  const chainMem = await measured(heldTensorChain, 0);
  const flockMem = await measured((t) => accumulateOnce('auto', t), 0);
  setCopy(); // warm; the other two warmed in their sampled runs
  const [setT, chainT, flockT, stagedT] = interleaved(
    [setCopy, () => heldTensorChain(), () => accumulateOnce('auto'), accumulateStaged],
    ROUNDS,
  );
  const per = (num: number[], den: number[]) => num.map((v, i) => v / den[i]);
  timings.unshift(
    { label: 'Float32Array.set copy', ms: median(setT), rssMB: null, abMB: null },
    {
      label: 'peer (DISCO): hold all, tf.add chain, div on wasm',
      ms: median(chainT),
      rssMB: chainMem.rssMB,
      abMB: chainMem.abMB,
      ratios: { set: per(setT, chainT), chain: per(chainT, chainT) },
    },
    {
      label: 'Flock accumulator (wasm SIMD kernel)',
      ms: median(flockT),
      rssMB: flockMem.rssMB,
      abMB: flockMem.abMB,
      ratios: { set: per(setT, flockT), chain: per(chainT, flockT) },
    },
    {
      label: 'Flock accumulator, update decoded into staging() (no copy by the accumulator)',
      ms: median(stagedT),
      rssMB: null,
      abMB: null,
      ratios: { set: per(setT, stagedT), chain: per(chainT, stagedT) },
    },
  );
  const setRef = median(setT);
  const chainRef = median(chainT);
  const range = (v: number[] | undefined) =>
    v ? `${Math.min(...v).toFixed(3)}-${Math.max(...v).toFixed(3)}` : 'sequential';
  const bytes = UPDATES * PARAMS * 4;
  const rows = timings.map((t) => ({
    impl: t.label,
    'ms/100 updates': t.ms,
    'GB/s (update bytes)': bytes / t.ms / 1e6,
    'vs set()': t.ratios ? median(t.ratios.set) : setRef / t.ms,
    'vs tf.add chain (wasm)': t.ratios ? median(t.ratios.chain) : chainRef / t.ms,
    'vs set() range': range(t.ratios?.set),
    'vs chain range': range(t.ratios?.chain),
    'peak RSS +MB': t.rssMB,
    'peak arrayBuffers +MB': t.abMB,
  }));
  return {
    title: `Streaming aggregation: ${PARAMS / 1e6}M parameters x ${UPDATES} updates`,
    columns: [
      'impl',
      'ms/100 updates',
      'GB/s (update bytes)',
      'vs set()',
      'vs tf.add chain (wasm)',
      'vs set() range',
      'vs chain range',
      'peak RSS +MB',
      'peak arrayBuffers +MB',
    ],
    rows,
    notes: [
      'ratios > 1 mean faster than the baseline; GB/s counts the 4-byte update values read, once each',
      'Flock accumulator add = copy into a staging slot (set()), then one wasm SIMD pass summing squares (finite, L2 norm) and writing sum + w*u into a spare buffer, committed once the update passed; weights 1..7',
      'peer = DISCO-style averaging: each contribution made a tensor and held, then tf.add over all of them and one div (equal weights, no validation)',
      `memory: growth over the first run (after gc when --expose-gc), sampled after every update; holding all updates is ${(UPDATES * PARAMS * 4) / MB} MB`,
      'staging() row: the slot is filled once and addStaged runs per update, i.e. the cost left to the accumulator when the codec decodes into its staging views (the decode writes those bytes anyway)',
      `set(), the wasm chain and the wasm accumulator rows run interleaved in ${ROUNDS} rounds (order rotated); their ratios are medians of per-round ratios, range = min-max over rounds; other rows are timed one after another (median of their runs) against the interleaved medians`,
      'tfjs-node rows appear only when the optional package is installed',
    ],
  };
}

async function robustMedian(): Promise<BenchTable> {
  const source = {
    count: MEDIAN_UPDATES,
    read: async (i: number) => [pool[i % pool.length].map((v, j) => v * (1 + ((i * 31 + j) % 5)))],
  };
  const updates = await Promise.all(Array.from({ length: MEDIAN_UPDATES }, (_, i) => source.read(i)));
  const cached = { count: MEDIAN_UPDATES, read: async (i: number) => updates[i] };
  const sortMedian = (): void => {
    const column = new Float32Array(MEDIAN_UPDATES);
    const out = new Float32Array(PARAMS);
    for (let p = 0; p < PARAMS; p++) {
      for (let c = 0; c < MEDIAN_UPDATES; c++) column[c] = updates[c][0][p];
      column.sort();
      out[p] = (column[9] + column[10]) / 2;
    }
  };
  const baseMs = median(await timeRepeated(sortMedian, { repeats: 3, warmup: 0 }));
  const rows = [{ impl: 'JS sort per coordinate', ms: baseMs, 'vs sort': 1 }];
  const ms = median(await timeRepeated(() => coordinateMedian(specs, cached), { repeats: 3, warmup: 1 }));
  rows.push({ impl: 'coordinateMedian (chunked, insertion sort)', ms, 'vs sort': baseMs / ms });
  const small = median(
    await timeRepeated(() => coordinateMedian(specs, cached, { maxChunkBytes: 8 * MB }), { repeats: 1, warmup: 0 }),
  );
  rows.push({ impl: 'coordinateMedian, 8 MiB chunk budget', ms: small, 'vs sort': baseMs / small });
  return {
    title: `Coordinate median: ${PARAMS / 1e6}M parameters x ${MEDIAN_UPDATES} updates`,
    columns: ['impl', 'ms', 'vs sort'],
    rows,
    notes: [
      'updates served from memory; the default 256 MiB budget holds the 80 MB matrix in one pass, 8 MiB needs 10 passes (reads each update 10 times)',
      'tf.topk was measured slower than the JS sort baseline here (wasm 0.41x, cpu 0.14x), so the kernel is plain JS',
    ],
  };
}

const bench: Benchmark = {
  name: 'aggregation',
  run: async () => [await throughput(), await robustMedian()],
};
export default bench;
