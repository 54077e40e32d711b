/**
 * `createPredictor`: validated, micro-batched, cached inference with latency
 * and confidence telemetry, over a tfjs LayersModel or any batched `run`
 * function (the Node simulation and tests use the latter too).
 *
 * Micro-batching: calls arriving within `batchWindowMs` of the first queued
 * one (or until `maxBatch` are queued) share one forward pass; on GPU backends
 * one pass of 32 costs about as much as one of 1. The window is also the most
 * a lone call waits; `batchWindowMs: 0` flushes at the end of the current
 * task instead (calls made in the same synchronous burst still batch).
 */
import * as tf from '@tensorflow/tfjs';
import { QuantileSketch, type QuantileSummary } from '../../shared/stats/quantile-sketch.ts';
import type { Histogram } from '../../shared/protocol/telemetry.ts';
import type { ModelSpec } from '../../shared/protocol/model-spec.ts';
import { readPrediction, type Prediction } from './prediction-output.ts';
import { isFeatureInput, rawInputReader, type RawInput } from './raw-input.ts';
import {
  exampleLayout,
  exampleVectorInto,
  exampleVectorNow,
  toExampleVector,
  type ExampleLayout,
  type PredictInput,
  type PredictInputSpec,
} from './input.ts';
import { inputKey, LruCache } from './result-cache.ts';

/** A batched forward pass: `n` examples laid end to end in, `n` output rows laid end to end out. */
export type RunBatch = (batch: Float32Array, n: number) => Promise<Float32Array>;

export interface PredictorOptions {
  model: tf.LayersModel | RunBatch;
  inputSpec: PredictInputSpec;
  /** Most examples in one forward pass (default 32). */
  maxBatch?: number;
  /** How long the first queued call waits for company, in ms (default 2; 0 = end of the current task). */
  batchWindowMs?: number;
  /** Results kept for repeated inputs (default 256; 0 disables the cache). */
  cacheSize?: number;
  /**
   * The version's model spec: its `preprocess` turns raw inputs (text, a
   * record, an image) into features, its `output` says what the row means.
   * Without one, inputs are feature vectors and outputs multiclass.
   */
  modelSpec?: ModelSpec;
}

export type { Prediction };

export interface PredictorStats {
  /** Predictions answered (cache hits included). */
  count: number;
  cacheHits: number;
  forwardPasses: number;
  /** Latency of predictions that ran the model; cache hits would hide a slower model. */
  latency: QuantileSummary;
  /** Top-1 confidence of every answered prediction, 10 bins over [0, 1]. */
  confidenceHistogram: Histogram;
}

export interface Predictor {
  /** @throws FlockInputError for input the model (or its preprocessing) cannot take, naming the field */
  predict(input: PredictInput | RawInput): Promise<Prediction>;
  /** The feature vector `predict` would feed the model for `input` (what `record` stores). */
  features(input: PredictInput | RawInput): Promise<Float32Array>;
  stats(): PredictorStats;
  /** Reject queued calls and drop the cache. The model stays the caller's to dispose. */
  dispose(): void;
}

/** A queued call; its input waits in slot `queue index` of the predictor's staging buffer. */
interface Pending {
  key: string;
  startedAt: number;
  resolve: (p: Prediction) => void;
  reject: (e: unknown) => void;
}

const CONFIDENCE_BINS = 10;
const settled = Promise.resolve();
/**
 * Backends whose write() and kernels have read the input tensor's values by the time model.predict()
 * returns (wasm copies them into its heap at once; cpu computes synchronously): the staging buffer can be
 * handed to them as is. webgl and webgpu upload lazily and get a copy.
 */
const READS_INPUT_AT_ONCE = new Set(['wasm', 'cpu']);
/** Latencies buffered before they go into the sketch in one go (also drained by `stats()`). */
const LATENCY_BATCH = 256;

function runFromModel(model: tf.LayersModel, layout: ExampleLayout): RunBatch {
  const shapeOfOne = [1, ...layout.exampleShape];
  // No tf.tidy around the pass: LayersModel.predict tidies its own intermediates, and a tidy scope per call
  // measured as a good part of the per-call overhead over raw model.predict (issue 15).
  // `batch` is a view of the predictor's staging buffer, refilled by the next calls once this returns its
  // promise: it is read (or copied) before the first await.
  return async (batch, n) => {
    const shape = n === 1 ? shapeOfOne : [n, ...layout.exampleShape];
    const atOnce = READS_INPUT_AT_ONCE.has(tf.getBackend());
    const x =
      layout.dtype === 'int32'
        ? tf.tensor(Int32Array.from(batch), shape, 'int32')
        : tf.tensor(atOnce ? batch : batch.slice(), shape, 'float32');
    let y: tf.Tensor | tf.Tensor[];
    try {
      y = model.predict(x);
    } finally {
      x.dispose();
    }
    if (Array.isArray(y)) {
      for (const t of y) t.dispose();
      throw new RangeError(`the model has ${y.length} outputs; createPredictor supports single-output models`);
    }
    try {
      if (atOnce) {
        // These backends computed the output already: read it now (no await), before the buffer is refilled.
        // On cpu an output can be a view of the input's values (a reshape of a slice): copy it then.
        const data = y.dataSync();
        if (data.buffer === batch.buffer || !(data instanceof Float32Array)) return Float32Array.from(data);
        return data;
      }
      const data = await y.data();
      return data instanceof Float32Array ? data : Float32Array.from(data);
    } finally {
      y.dispose();
    }
  };
}

/**
 * A predictor for one model.
 *
 * @example
 * const predictor = createPredictor({ model, inputSpec: { shape: [null, 28, 28, 1], dtype: 'float32' } });
 * const { label, confidence } = await predictor.predict(ctx.getImageData(0, 0, 28, 28));
 * predictor.stats().latency.p99;
 */
export function createPredictor(options: PredictorOptions): Predictor {
  const layout = exampleLayout(options.inputSpec);
  const maxBatch = options.maxBatch ?? 32;
  const batchWindowMs = options.batchWindowMs ?? 2;
  if (!Number.isInteger(maxBatch) || maxBatch < 1)
    throw new RangeError(`maxBatch must be an integer >= 1, got ${maxBatch}`);
  if (!(batchWindowMs >= 0)) throw new RangeError(`batchWindowMs must be >= 0, got ${batchWindowMs}`);
  const output = options.modelSpec?.output;
  const raw = options.modelSpec?.preprocess ? rawInputReader(options.modelSpec.preprocess) : null;
  const featureSize = raw?.preprocessor.shape.reduce((a, b) => a * b, 1);
  if (featureSize !== undefined && featureSize !== layout.size)
    throw new RangeError(
      `the model spec's preprocessing makes ${featureSize} features but the model input takes ${layout.size}; the spec belongs to another model`,
    );
  /** The features of every input but a tensor without a promise (null for a tensor: its values are awaited). */
  const featuresNow = (input: PredictInput | RawInput): Float32Array | null =>
    raw && !isFeatureInput(input) ? raw.features(input) : exampleVectorNow(input, layout);
  const features = async (input: PredictInput | RawInput): Promise<Float32Array> =>
    featuresNow(input) ?? toExampleVector(input as PredictInput, layout);
  const model = options.model;
  // A run function may keep its batch past its first await: it gets its own copy of the staging view.
  const run: RunBatch =
    typeof model === 'function' ? (batch, n) => model(batch.slice(), n) : runFromModel(model, layout);
  /** Queued inputs, one slot per queue index (the queue never holds more than maxBatch); reused batch after batch. */
  const staging = new Float32Array(maxBatch * layout.size);
  const cache = new LruCache<Float32Array>(options.cacheSize ?? 256);
  const latency = new QuantileSketch();
  const pendingLatency = new Float64Array(LATENCY_BATCH);
  let pendingCount = 0;
  const drainLatency = () => {
    for (let i = 0; i < pendingCount; i++) latency.add(pendingLatency[i]);
    pendingCount = 0;
  };
  const confidenceCounts = new Array<number>(CONFIDENCE_BINS).fill(0);
  let count = 0;
  let cacheHits = 0;
  let forwardPasses = 0;
  let queue: Pending[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let microtaskScheduled = false;
  let disposed = false;

  const answer = (probabilities: Float32Array, startedAt: number, cached: boolean): Prediction => {
    const reading = readPrediction(probabilities, output);
    const latencyMs = performance.now() - startedAt;
    count++;
    if (cached) cacheHits++;
    else {
      // The sketch is for stats(), which few callers read: buffer here, fold in batches off the per-call path.
      pendingLatency[pendingCount++] = Math.max(0, latencyMs);
      if (pendingCount === LATENCY_BATCH) drainLatency();
    }
    // A regression value has no confidence: it stays out of the histogram rather than piling into bin 0.
    if (reading.kind !== 'regression') {
      const c = reading.confidence;
      confidenceCounts[
        Math.min(CONFIDENCE_BINS - 1, Math.max(0, Math.floor((Number.isFinite(c) ? c : 0) * CONFIDENCE_BINS)))
      ]++;
    }
    // The reading is a fresh object: completing it in place skips a spread copy per call.
    const prediction = reading as Prediction;
    prediction.latencyMs = latencyMs;
    prediction.cached = cached;
    return prediction;
  };

  const runBatch = async (items: Pending[]) => {
    const n = items.length;
    try {
      forwardPasses++;
      // Synchronously up to run()'s first await, which has read the slots: calls queued after that refill them.
      const output = await run(staging.subarray(0, n * layout.size), n);
      const width = output.length / n;
      if (!Number.isInteger(width) || width < 1) {
        throw new RangeError(
          `the model returned ${output.length} values for a batch of ${n}; expected a whole number of outputs per example`,
        );
      }
      for (let i = 0; i < n; i++) {
        const item = items[i];
        const row = n === 1 ? output : output.slice(i * width, (i + 1) * width);
        if (cache.capacity > 0) cache.set(item.key, row.slice()); // the cache keeps its own copy: callers may mutate theirs
        item.resolve(answer(row, item.startedAt, false));
      }
    } catch (error) {
      for (const item of items) item.reject(error);
    }
  };

  const flush = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    microtaskScheduled = false;
    while (queue.length > 0) void runBatch(queue.splice(0, maxBatch));
  };

  const flushIfScheduled = () => {
    if (microtaskScheduled) flush();
  };
  const schedule = () => {
    if (queue.length >= maxBatch) return flush();
    if (batchWindowMs === 0) {
      if (!microtaskScheduled) {
        microtaskScheduled = true;
        // A macrotask-free "soon": after the calls of this synchronous burst have queued (they all reach the
        // queue at the same microtask depth). Two hops on a settled promise: V8's own reaction jobs, half the
        // cost of Blink's queueMicrotask in Chromium (1.7 vs 3.3 µs for two); a promise returned from then()
        // would cost two more.
        void settled.then(() => {
          void settled.then(flushIfScheduled);
        });
      }
    } else if (timer === null) {
      timer = setTimeout(flush, batchWindowMs);
    }
  };

  /** Queues the input already written into slot `queue.length` of the staging buffer. */
  const enqueueStaged = (startedAt: number): Promise<Prediction> => {
    // Hashing the input is the costliest step of a call; skip it when nothing is cached.
    let key = '';
    if (cache.capacity > 0) {
      const at = queue.length * layout.size;
      key = inputKey(staging.subarray(at, at + layout.size));
      const hit = cache.get(key);
      if (hit !== undefined) return Promise.resolve(answer(hit.slice(), startedAt, true));
    }
    return new Promise<Prediction>((resolve, reject) => {
      if (disposed) return reject(new Error('this predictor was disposed; create a new one with createPredictor'));
      queue.push({ key, startedAt, resolve, reject });
      schedule();
    });
  };
  const enqueue = (vector: Float32Array, startedAt: number): Promise<Prediction> => {
    staging.set(vector, queue.length * layout.size);
    return enqueueStaged(startedAt);
  };

  return {
    // Not an async function: an array, image or raw input reaches the queue in the same tick (no await of its
    // features, no promise wrapping the queued one), which measured as part of the overhead over raw
    // model.predict (issue 15). Errors still arrive as rejections.
    predict(input) {
      const startedAt = performance.now();
      try {
        if (disposed) throw new Error('this predictor was disposed; create a new one with createPredictor');
        // Features straight into the next free slot (no array per call); raw inputs go through their preprocessing.
        if (raw && !isFeatureInput(input)) return enqueue(raw.features(input), startedAt);
        if (exampleVectorInto(input, layout, staging, queue.length * layout.size)) return enqueueStaged(startedAt);
        return toExampleVector(input as PredictInput, layout).then((v) => enqueue(v, startedAt));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    features,
    stats() {
      drainLatency();
      return {
        count,
        cacheHits,
        forwardPasses,
        latency: latency.summary(),
        confidenceHistogram: { min: 0, max: 1, counts: [...confidenceCounts] },
      };
    },
    dispose() {
      disposed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      microtaskScheduled = false;
      const dropped = queue;
      queue = [];
      for (const item of dropped) item.reject(new Error('the predictor was disposed before this prediction ran'));
      cache.clear();
    },
  };
}
