/**
 * Streaming accumulator of client deltas: memory O(parameters), whatever the
 * number of clients. Each accepted update is read once by a small WebAssembly
 * SIMD kernel (fold-kernel.ts) that checks it (finite, global L2 norm) and
 * adds it to a spare copy of the float32 sum in the same pass; the spare
 * becomes the sum only once the update passed. The sum lives in host memory on every
 * aggregation backend: updates arrive as host Float32Arrays and leave as
 * them, and one host pass costs less than a tfjs upload, a norm read (a sync)
 * and an add per update (issue 15, aggregation bench); strategies, robust
 * aggregators and central DP still run on the selected tfjs backend.
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
import { requireAggregationBackend } from './backend.ts';
import { AggregationError } from './errors.ts';
import { createFoldKernel, type FoldKernel } from './fold-kernel.ts';
import { assertAligned, tensorSizes, type WeightSpec } from './weight-spec.ts';

export interface AccumulatorOptions {
  /** Scale each update to at most this global L2 norm before adding it. */
  normBound?: number;
  /** Which fold kernel runs: 'auto' (WebAssembly SIMD where the runtime has it) or 'js' (plain JavaScript). */
  kernel?: 'auto' | 'js';
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
   * Views into the accumulator's staging slot, one per tensor (spec order). Write an
   * update into them (a decoder can decode straight into them) and call `addStaged`
   * before any other call: `add` saves its copy this way. Any other method may overwrite them.
   */
  staging(): readonly Float32Array[];
  /** `add` of what `staging()` holds now, without copying it. */
  addStaged(weight: number): void;
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
  /** Frees the kernel memory; the accumulator refuses further use. */
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
  let kernel: FoldKernel | null = createFoldKernel(sizes, { implementation: options.kernel ?? 'auto' });
  let count = 0;
  let totalWeight = 0;
  let boundedCount = 0;
  let maxUpdateNorm = 0;

  const live = (): FoldKernel => {
    if (!kernel)
      throw new AggregationError('disposed', 'this accumulator was disposed; create a new one for the next round');
    return kernel;
  };

  /**
   * Stages `sum + scale * tensors` and returns their sum of squares; refuses a
   * NaN or an infinity (the staged buffer is then dropped, the sum untouched).
   */
  const stageChecked = (
    k: FoldKernel,
    tensors: readonly Float32Array[] | null,
    scale: number,
    what: string,
  ): number => {
    const fast = tensors === null ? k.stageSlot(scale) : k.stage(tensors, scale);
    if (Number.isFinite(fast)) return fast;
    // The kernel squares in float32, which overflows above |x| ~ 1.8e19: refuse only a real NaN or infinity.
    let exact = 0;
    for (const t of k.slot) for (let i = 0; i < t.length; i++) exact += t[i] * t[i];
    if (!Number.isFinite(exact)) {
      throw new AggregationError('non-finite-update', `${what} contains NaN or Infinity; refuse it`, {
        norm: Math.sqrt(exact),
      });
    }
    return exact;
  };

  const read = (divisor: number): Float32Array[] => {
    const k = live();
    const sum = k.sum();
    return sizes.map((n, i) => {
      const out = sum.slice(k.offsets[i], k.offsets[i] + n);
      if (divisor !== 1) for (let j = 0; j < n; j++) out[j] /= divisor;
      return out;
    });
  };

  /**
   * Adds `weight * delta` (negative `weight`: subtracts), norm-bounded; returns the update's norm before
   * bounding. `delta` null: the update is already in the staging slot.
   */
  const fold = (delta: readonly Float32Array[] | null, weight: number): { norm: number; bounded: boolean } => {
    const k = live();
    if (delta !== null) assertAligned(delta, specs, sizes, 'update');
    // Staged at full weight first: a client that clipped itself is not bounded again, so one pass is the rule.
    const norm = Math.sqrt(stageChecked(k, delta, weight, 'update'));
    const bounded = normBound !== null && norm > normBound;
    if (bounded) k.stageSlot(weight * ((normBound as number) / norm));
    k.commit();
    return { norm, bounded };
  };

  const accept = (delta: readonly Float32Array[] | null, weight: number): void => {
    live();
    checkWeight(weight);
    const { norm, bounded } = fold(delta, weight);
    if (bounded) boundedCount++;
    maxUpdateNorm = Math.max(maxUpdateNorm, norm);
    count++;
    totalWeight += weight;
  };

  function checkWeight(weight: number): void {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
      throw new AggregationError(
        'bad-weight',
        `update weight must be a positive finite number (its example count, or 1 under DP), got ${weight}`,
        { weight },
      );
    }
  }

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
      accept(delta, weight);
    },

    staging() {
      return live().slot;
    },

    addStaged(weight) {
      accept(null, weight);
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
      const k = live();
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
      stageChecked(k, other.sum, 1, 'merged snapshot');
      k.commit();
      count += other.count;
      totalWeight += other.totalWeight;
      boundedCount += other.boundedCount;
      maxUpdateNorm = Math.max(maxUpdateNorm, other.maxUpdateNorm);
    },

    dispose() {
      kernel = null;
    },
  };
}
