/**
 * Streaming accumulator of client deltas: memory O(parameters), whatever the
 * number of clients. Each accepted update is folded into one tf.Variable per
 * tensor with tfjs ops, so on tfjs-node-gpu the adds run on the GPU.
 *
 * With `normBound` every update is scaled down to at most that global L2 norm
 * before it is added: that is the "norm bounding" robust aggregator (Sun et
 * al. 2019), and under central DP it is what makes the server's sensitivity
 * bound hold even when a client skipped its own clipping.
 *
 * Partial sums merge: `snapshot()` of one accumulator `merge`d into another
 * gives the accumulator of both sets of updates (float32 addition in another
 * order, so equal within float tolerance, not bit for bit). That is how
 * several coordinator processes combine what each of them folded.
 */
import * as tf from '@tensorflow/tfjs';
import { requireAggregationBackend } from './backend.ts';
import { AggregationError } from './errors.ts';
import { assertAligned, tensorSizes, type WeightSpec } from './weight-spec.ts';

export interface AccumulatorOptions {
  /** Scale each update to at most this global L2 norm before adding it. */
  normBound?: number;
}

/** Everything an accumulator knows, as plain data: what `merge` takes. */
export interface AccumulatorSnapshot {
  /** Weighted (and norm-bounded) sum, one array per spec. */
  sum: Float32Array[];
  count: number;
  totalWeight: number;
  boundedCount: number;
  maxUpdateNorm: number;
  /** The bound the summands were scaled to; only snapshots with the same bound merge. */
  normBound: number | null;
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
  /**
   * Lowers the weight of an update added earlier by `weight`: subtracts
   * `weight * delta` (norm-bounded exactly as `add` did) from the sum and the
   * total weight; `count` stays. How the per-device share bound
   * (weight-share.ts) is applied at close without re-reading every update.
   */
  retract(delta: readonly Float32Array[], weight: number): void;
  /** Weighted sum of the deltas (fresh copies). */
  sum(): Float32Array[];
  /** Weighted mean of the deltas: sum / totalWeight. */
  mean(): Float32Array[];
  /** A copy of the sum and counters (an empty accumulator gives zeros). */
  snapshot(): AccumulatorSnapshot;
  /**
   * Adds another accumulator's snapshot, as if its updates had been added
   * here. Throws AggregationError ('bad-option' for another normBound, a
   * tensor mismatch code for another layout, 'non-finite-update' for a NaN).
   */
  merge(snapshot: AccumulatorSnapshot): void;
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
    if (!sums)
      throw new AggregationError('disposed', 'this accumulator was disposed; create a new one for the next round');
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

  /** Adds `weight * delta` (negative `weight`: subtracts), norm-bounded; returns the update's norm before bounding. */
  const fold = (delta: readonly Float32Array[], weight: number): { norm: number; bounded: boolean } => {
    const vars = live();
    assertAligned(delta, specs, sizes, 'update');
    const inputs = delta.map((d) => tf.tensor1d(d, 'float32'));
    try {
      // One scalar read per update: a NaN or Inf must be refused before it reaches the sum.
      const squared = tf.tidy(() => tf.addN(inputs.map((t) => tf.sum(tf.square(t)))));
      const norm = Math.sqrt(squared.dataSync()[0]);
      squared.dispose();
      if (!Number.isFinite(norm))
        throw new AggregationError('non-finite-update', 'update contains NaN or Infinity; refuse it', { norm });
      const bounded = normBound !== null && norm > normBound;
      const scale = bounded ? weight * (normBound / norm) : weight;
      tf.tidy(() => {
        for (let i = 0; i < vars.length; i++) vars[i].assign(tf.add(vars[i], tf.mul(inputs[i], scale)));
      });
      return { norm, bounded };
    } finally {
      for (const t of inputs) t.dispose();
    }
  };

  const checkWeight = (weight: number): void => {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
      throw new AggregationError(
        'bad-weight',
        `update weight must be a positive finite number (its example count, or 1 under DP), got ${weight}`,
        { weight },
      );
    }
  };

  return {
    specs,
    get count() {
      return count;
    },
    get totalWeight() {
      return totalWeight;
    },
    normBound,
    get boundedCount() {
      return boundedCount;
    },
    get maxUpdateNorm() {
      return maxUpdateNorm;
    },

    add(delta, weight) {
      live();
      checkWeight(weight);
      const { norm, bounded } = fold(delta, weight);
      if (bounded) boundedCount++;
      maxUpdateNorm = Math.max(maxUpdateNorm, norm);
      count++;
      totalWeight += weight;
    },

    retract(delta, weight) {
      live();
      checkWeight(weight);
      if (!(weight < totalWeight)) {
        throw new AggregationError(
          'bad-weight',
          `cannot retract weight ${weight} from a total of ${totalWeight}: an update keeps a positive weight`,
          { weight, totalWeight },
        );
      }
      fold(delta, -weight);
      totalWeight -= weight;
    },

    sum() {
      return read(1);
    },

    mean() {
      if (count === 0)
        throw new AggregationError('no-updates', 'no update was added; a round needs at least one report');
      return read(totalWeight);
    },

    snapshot() {
      return { sum: read(1), count, totalWeight, boundedCount, maxUpdateNorm, normBound };
    },

    merge(other) {
      const vars = live();
      if (other.normBound !== normBound) {
        // Sums bounded differently are different estimators (and under DP a different sensitivity): refuse.
        throw new AggregationError(
          'bad-option',
          `cannot merge a partial sum bounded at ${other.normBound} into one bounded at ${normBound}`,
          { normBound, other: other.normBound },
        );
      }
      const counters = [other.count, other.totalWeight, other.boundedCount, other.maxUpdateNorm];
      if (
        !counters.every((v) => Number.isFinite(v) && v >= 0) ||
        !Number.isInteger(other.count) ||
        other.boundedCount > other.count
      ) {
        throw new AggregationError('bad-weight', 'a merged snapshot needs finite, non-negative counters', {
          count: other.count,
          totalWeight: other.totalWeight,
        });
      }
      assertAligned(other.sum, specs, sizes, 'merged snapshot');
      if (other.count === 0) return;
      const inputs = other.sum.map((d) => tf.tensor1d(d, 'float32'));
      try {
        const squared = tf.tidy(() => tf.addN(inputs.map((t) => tf.sum(tf.square(t)))));
        const finite = Number.isFinite(squared.dataSync()[0]);
        squared.dispose();
        if (!finite)
          throw new AggregationError('non-finite-update', 'merged snapshot contains NaN or Infinity; refuse it');
        tf.tidy(() => {
          for (let i = 0; i < vars.length; i++) vars[i].assign(tf.add(vars[i], inputs[i]));
        });
        count += other.count;
        totalWeight += other.totalWeight;
        boundedCount += other.boundedCount;
        maxUpdateNorm = Math.max(maxUpdateNorm, other.maxUpdateNorm);
      } finally {
        for (const t of inputs) t.dispose();
      }
    },

    dispose() {
      if (!sums) return;
      for (const v of sums) v.dispose();
      sums = null;
    },
  };
}
