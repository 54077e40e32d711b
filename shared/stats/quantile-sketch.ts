/**
 * A streaming quantile sketch for latency telemetry (DDSketch, Masson et al.,
 * VLDB 2019): values fall into logarithmically spaced buckets, so every
 * quantile it reports is within a stated *relative* error of the exact one
 * (1% by default), whatever the distribution. Memory is bounded by
 * `maxBuckets`; sketches with the same accuracy merge exactly, and serialize
 * to a compact JSON object that can travel in telemetry.
 *
 * Why relative error: latencies span orders of magnitude (1 ms on WASM, 300 ms
 * on a software WebGPU adapter), and "p99 within 1%" means the same at both ends,
 * which an absolute-error or rank-error sketch cannot promise.
 *
 * Only non-negative values are accepted (durations, sizes). Values below
 * `MIN_INDEXABLE` count as zero.
 */
import { z } from 'zod';

/** Values below this are counted in the zero bucket (and reported as 0). */
export const MIN_INDEXABLE = 1e-9;

/** Default relative accuracy: every quantile within 1% of the exact value. */
export const DEFAULT_RELATIVE_ACCURACY = 0.01;

/**
 * Default bucket bound. At 1% accuracy, 2048 buckets cover 1 µs .. 5e8 ms
 * without collapsing; beyond that the lowest buckets merge (low quantiles lose
 * accuracy first, p95/p99 keep theirs).
 */
export const DEFAULT_MAX_BUCKETS = 2048;

/** Wire form of a sketch: bucket `offset + i` holds `counts[i]` values. */
export const QuantileSketchJsonSchema = z.strictObject({
  relativeAccuracy: z.number().gt(0).lt(1),
  maxBuckets: z.int().min(16).max(65_536),
  count: z.int().min(0),
  zeroCount: z.int().min(0),
  min: z.number().min(0).nullable(),
  max: z.number().min(0).nullable(),
  sum: z.number().min(0),
  offset: z.int(),
  counts: z.array(z.int().min(0)).max(65_536),
});
export type QuantileSketchJson = z.infer<typeof QuantileSketchJsonSchema>;

/** p50/p95/p99 and exact count, min, max and mean; quantiles are null when empty. */
export interface QuantileSummary {
  count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface QuantileSketchOptions {
  /** Relative error bound alpha in (0, 1); default 0.01. */
  relativeAccuracy?: number;
  /** Most buckets kept; default 2048. */
  maxBuckets?: number;
}

/**
 * A DDSketch over non-negative numbers.
 *
 * @example
 * const sketch = new QuantileSketch(); // 1% relative accuracy
 * for (const ms of latencies) sketch.add(ms);
 * sketch.quantile(0.99); // within 1% of the exact p99
 * const wire = sketch.toJSON(); // send; QuantileSketch.fromJSON(wire) on the other side
 */
export class QuantileSketch {
  readonly relativeAccuracy: number;
  readonly maxBuckets: number;
  private readonly gamma: number;
  private readonly logGamma: number;
  private readonly buckets = new Map<number, number>();
  private total = 0;
  private zeros = 0;
  private minValue = Infinity;
  private maxValue = -Infinity;
  private sumValue = 0;

  constructor(options: QuantileSketchOptions = {}) {
    const alpha = options.relativeAccuracy ?? DEFAULT_RELATIVE_ACCURACY;
    const maxBuckets = options.maxBuckets ?? DEFAULT_MAX_BUCKETS;
    if (!(alpha > 0 && alpha < 1)) {
      throw new RangeError(`relativeAccuracy must be in (0, 1), got ${alpha}; 0.01 means 1%`);
    }
    if (!Number.isInteger(maxBuckets) || maxBuckets < 16) {
      throw new RangeError(`maxBuckets must be an integer >= 16, got ${maxBuckets}`);
    }
    this.relativeAccuracy = alpha;
    this.maxBuckets = maxBuckets;
    this.gamma = (1 + alpha) / (1 - alpha);
    this.logGamma = Math.log(this.gamma);
  }

  /** Number of values added. */
  get count(): number {
    return this.total;
  }

  /**
   * Add `value` (`weight` times).
   * @throws RangeError for negative, NaN or infinite values
   */
  add(value: number, weight = 1): void {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`QuantileSketch takes finite values >= 0, got ${value}`);
    }
    if (!Number.isInteger(weight) || weight < 1) {
      throw new RangeError(`weight must be a positive integer, got ${weight}`);
    }
    if (value < MIN_INDEXABLE) {
      this.zeros += weight;
    } else {
      const index = Math.ceil(Math.log(value) / this.logGamma);
      this.buckets.set(index, (this.buckets.get(index) ?? 0) + weight);
      if (this.buckets.size > this.maxBuckets) this.collapseLowest();
    }
    this.total += weight;
    this.sumValue += value * weight;
    if (value < this.minValue) this.minValue = value;
    if (value > this.maxValue) this.maxValue = value;
  }

  /**
   * The q-quantile (q in [0, 1]), within `relativeAccuracy` of the exact
   * lower quantile `sorted[floor(q * (count - 1))]`; null when empty.
   */
  quantile(q: number): number | null {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
    if (this.total === 0) return null;
    const rank = q * (this.total - 1);
    let seen = this.zeros;
    if (seen > rank) return 0;
    let estimate = this.maxValue;
    for (const index of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(index) ?? 0;
      if (seen > rank) {
        // Midpoint (in relative terms) of (gamma^(i-1), gamma^i]: at most alpha off.
        estimate = (2 * Math.pow(this.gamma, index)) / (this.gamma + 1);
        break;
      }
    }
    // The exact value lies in [min, max], so clamping only moves the estimate closer.
    return Math.min(this.maxValue, Math.max(this.minValue, estimate));
  }

  /** count, min, max, mean and p50/p95/p99. */
  summary(): QuantileSummary {
    const empty = this.total === 0;
    return {
      count: this.total,
      min: empty ? null : this.minValue,
      max: empty ? null : this.maxValue,
      mean: empty ? null : this.sumValue / this.total,
      p50: this.quantile(0.5),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
    };
  }

  /**
   * Fold `other` into this sketch. Exact: the result equals a sketch fed both
   * streams (up to bucket collapsing).
   * @throws RangeError when the relative accuracies differ
   */
  merge(other: QuantileSketch): void {
    if (other.relativeAccuracy !== this.relativeAccuracy) {
      throw new RangeError(
        `cannot merge sketches of relative accuracy ${other.relativeAccuracy} and ${this.relativeAccuracy}; build both with the same relativeAccuracy`,
      );
    }
    for (const [index, n] of other.buckets) this.buckets.set(index, (this.buckets.get(index) ?? 0) + n);
    while (this.buckets.size > this.maxBuckets) this.collapseLowest();
    this.zeros += other.zeros;
    this.total += other.total;
    this.sumValue += other.sumValue;
    this.minValue = Math.min(this.minValue, other.minValue);
    this.maxValue = Math.max(this.maxValue, other.maxValue);
  }

  /** Compact wire form (dense counts from the lowest bucket to the highest). */
  toJSON(): QuantileSketchJson {
    const indices = [...this.buckets.keys()];
    const offset = indices.length === 0 ? 0 : Math.min(...indices);
    const top = indices.length === 0 ? -1 : Math.max(...indices);
    const counts = new Array<number>(top - offset + 1).fill(0);
    for (const [index, n] of this.buckets) counts[index - offset] = n;
    const empty = this.total === 0;
    return {
      relativeAccuracy: this.relativeAccuracy,
      maxBuckets: this.maxBuckets,
      count: this.total,
      zeroCount: this.zeros,
      min: empty ? null : this.minValue,
      max: empty ? null : this.maxValue,
      sum: this.sumValue,
      offset,
      counts,
    };
  }

  /**
   * Rebuild a sketch from its wire form, validating it (it may come from an
   * untrusted client).
   * @throws RangeError naming the first inconsistency
   */
  static fromJSON(json: unknown): QuantileSketch {
    const parsed = QuantileSketchJsonSchema.safeParse(json);
    if (!parsed.success) {
      throw new RangeError(
        `not a quantile sketch: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const w = parsed.data;
    const nonZeroBuckets = w.counts.filter((n) => n > 0).length;
    if (nonZeroBuckets > w.maxBuckets) {
      throw new RangeError(`quantile sketch has ${nonZeroBuckets} buckets, more than its maxBuckets ${w.maxBuckets}`);
    }
    const bucketTotal = w.counts.reduce((a, b) => a + b, 0);
    if (bucketTotal + w.zeroCount !== w.count) {
      throw new RangeError(`quantile sketch counts sum to ${bucketTotal + w.zeroCount} but count is ${w.count}`);
    }
    if ((w.count === 0) !== (w.min === null) || (w.count === 0) !== (w.max === null)) {
      throw new RangeError('quantile sketch min/max must be null exactly when count is 0');
    }
    if (w.min !== null && w.max !== null && w.min > w.max) {
      throw new RangeError(`quantile sketch min ${w.min} exceeds max ${w.max}`);
    }
    const sketch = new QuantileSketch({ relativeAccuracy: w.relativeAccuracy, maxBuckets: w.maxBuckets });
    w.counts.forEach((n, i) => {
      if (n > 0) sketch.buckets.set(w.offset + i, n);
    });
    sketch.total = w.count;
    sketch.zeros = w.zeroCount;
    sketch.sumValue = w.sum;
    if (w.min !== null && w.max !== null) {
      sketch.minValue = w.min;
      sketch.maxValue = w.max;
    }
    return sketch;
  }

  /** Merge the two lowest buckets: keeps memory bounded and the high quantiles exact to alpha. */
  private collapseLowest(): void {
    const [lowest, next] = [...this.buckets.keys()].sort((a, b) => a - b);
    this.buckets.set(next, (this.buckets.get(next) ?? 0) + (this.buckets.get(lowest) ?? 0));
    this.buckets.delete(lowest);
  }
}
