/**
 * Streaming accumulator of client deltas: memory O(parameters), whatever the
 * number of clients. Each accepted update is folded into one tf.Variable per
 * tensor with tfjs ops, so on tfjs-node-gpu the adds run on the GPU.
 *
 * With `normBound` every update is scaled down to at most that global L2 norm
 * before it is added: that is the "norm bounding" robust aggregator (Sun et
 * al. 2019), and under central DP it is what makes the server's sensitivity
 * bound hold even when a client skipped its own clipping.
 */
import * as tf from '@tensorflow/tfjs';
import { requireAggregationBackend } from './backend.ts';
import { AggregationError } from './errors.ts';
import { assertAligned, tensorSizes, type WeightSpec } from './weight-spec.ts';

export interface AccumulatorOptions {
  /** Scale each update to at most this global L2 norm before adding it. */
  normBound?: number;
}

export interface Accumulator {
  readonly specs: readonly WeightSpec[];
  /** Updates added so far. */
  readonly count: number;
  /** Sum of the weights passed to `add` (example counts for FedAvg, 1 each under DP). */
  readonly totalWeight: number;
  readonly normBound: number | null;
  /** Updates that `normBound` scaled down. */
  readonly boundedCount: number;
  /** Largest global L2 norm seen before bounding. */
  readonly maxUpdateNorm: number;
  /** Validates `delta` against the specs and adds `weight * delta` (after norm bounding). */
  add(delta: readonly Float32Array[], weight: number): void;
  /** Weighted sum of the deltas (fresh copies). */
  sum(): Float32Array[];
  /** Weighted mean of the deltas: sum / totalWeight. */
  mean(): Float32Array[];
  /** Frees the tensors; the accumulator refuses further use. */
  dispose(): void;
}

/**
 * Creates an empty accumulator for a model. Requires `selectAggregationBackend()` first.
 *
 * @example
 * const acc = createAccumulator(specs);
 * acc.add(update.delta, update.numExamples);   // per accepted upload
 * const meanDelta = acc.mean(); acc.dispose(); // at quorum
 */
export function createAccumulator(specs: readonly WeightSpec[], options: AccumulatorOptions = {}): Accumulator {
  requireAggregationBackend();
  const sizes = tensorSizes(specs);
  const normBound = options.normBound ?? null;
  if (normBound !== null && !(Number.isFinite(normBound) && normBound > 0)) {
    throw new AggregationError('bad-option', `normBound must be a positive finite number, got ${normBound}`);
  }
  let sums: tf.Variable[] | null = sizes.map((n) => tf.tidy(() => tf.variable(tf.zeros([n]), false)));
  let count = 0;
  let totalWeight = 0;
  let boundedCount = 0;
  let maxUpdateNorm = 0;

  const live = (): tf.Variable[] => {
    if (!sums) throw new AggregationError('disposed', 'this accumulator was disposed; create a new one for the next round');
    return sums;
  };

  const read = (divisor: number): Float32Array[] =>
    live().map((v) => {
      const out = tf.tidy(() => (divisor === 1 ? v.clone() : tf.div(v, divisor)));
      // Copy: the cpu backend hands out its own storage from dataSync.
      const values = Float32Array.from(out.dataSync() as Float32Array);
      out.dispose();
      return values;
    });

  return {
    specs,
    get count() { return count; },
    get totalWeight() { return totalWeight; },
    normBound,
    get boundedCount() { return boundedCount; },
    get maxUpdateNorm() { return maxUpdateNorm; },

    add(delta, weight) {
      const vars = live();
      if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
        throw new AggregationError('bad-weight', `update weight must be a positive finite number (its example count, or 1 under DP), got ${weight}`, { weight });
      }
      assertAligned(delta, specs, sizes, 'update');
      const inputs = delta.map((d) => tf.tensor1d(d, 'float32'));
      try {
        // One scalar read per update: a NaN or Inf must be refused before it reaches the sum.
        const squared = tf.tidy(() => tf.addN(inputs.map((t) => tf.sum(tf.square(t)))));
        const norm = Math.sqrt(squared.dataSync()[0]);
        squared.dispose();
        if (!Number.isFinite(norm)) throw new AggregationError('non-finite-update', 'update contains NaN or Infinity; refuse it', { norm });
        let scale = weight;
        if (normBound !== null && norm > normBound) {
          scale *= normBound / norm;
          boundedCount++;
        }
        tf.tidy(() => {
          for (let i = 0; i < vars.length; i++) vars[i].assign(tf.add(vars[i], tf.mul(inputs[i], scale)));
        });
        maxUpdateNorm = Math.max(maxUpdateNorm, norm);
        count++;
        totalWeight += weight;
      } finally {
        for (const t of inputs) t.dispose();
      }
    },

    sum() {
      return read(1);
    },

    mean() {
      if (count === 0) throw new AggregationError('no-updates', 'no update was added; a round needs at least one report');
      return read(totalWeight);
    },

    dispose() {
      if (!sums) return;
      for (const v of sums) v.dispose();
      sums = null;
    },
  };
}
