/**
 * Robust aggregators that need every update at once: coordinate-wise median
 * and trimmed mean (Yin et al. 2018). Updates come from a source the round
 * logic provides (typically its store on disk); the flattened parameter vector
 * is processed in chunks so peak memory is O(clients x chunk) plus one update,
 * never O(clients x params). If the whole matrix fits in `maxChunkBytes` each
 * update is read once; otherwise it is read once per chunk (I/O for memory).
 *
 * Both ignore example weights: an order statistic weighted by self-reported
 * example counts would hand a liar the median. (Norm bounding streams: see
 * `createAccumulator(specs, { normBound })`.)
 */
import { AggregationError } from './errors.ts';
import { assertAligned, tensorSizes, type WeightSpec } from './weight-spec.ts';

/** Where the round's updates are kept; `read(i)` for i in [0, count). */
export interface UpdateSource {
  count: number;
  read(index: number): Promise<Float32Array[]>;
}

export interface RobustOptions {
  /** Budget for the clients x chunk matrix, default 256 MiB. */
  maxChunkBytes?: number;
}

const DEFAULT_CHUNK_BYTES = 256 * 1024 * 1024;

/**
 * Sorts each row of a [len x n] row-major matrix in place and averages columns
 * [trimEach, n - trimEach) in float64. Plain JS on purpose: on 1M x 20
 * (test/bench/aggregation.bench.ts) tf.topk ran at 0.41x (wasm) and 0.14x
 * (cpu) the speed of a typed-array sort per coordinate, while this runs at
 * 0.8-1.2x of it including the gather into chunks.
 */
function keptMeans(matrix: Float32Array, len: number, n: number, trimEach: number): Float32Array {
  const out = new Float32Array(len);
  const kept = n - 2 * trimEach;
  for (let r = 0; r < len; r++) {
    const base = r * n;
    if (n <= 32) {
      for (let i = base + 1; i < base + n; i++) {
        const v = matrix[i];
        let j = i - 1;
        while (j >= base && matrix[j] > v) {
          matrix[j + 1] = matrix[j];
          j--;
        }
        matrix[j + 1] = v;
      }
    } else {
      matrix.subarray(base, base + n).sort();
    }
    let s = 0;
    for (let i = base + trimEach; i < base + n - trimEach; i++) s += matrix[i];
    out[r] = s / kept;
  }
  return out;
}

/**
 * Mean of the values left after dropping the `trimEach` smallest and largest,
 * per coordinate, in chunks. The median is `trimEach = floor((n - 1) / 2)`.
 */
async function trimmedByCount(
  specs: readonly WeightSpec[],
  source: UpdateSource,
  trimEach: number,
  options: RobustOptions,
): Promise<Float32Array[]> {
  const sizes = tensorSizes(specs);
  const n = source.count;
  if (!Number.isInteger(n) || n < 1)
    throw new AggregationError('no-updates', `the update source holds ${n} updates; a round needs at least one`);
  const total = sizes.reduce((a, b) => a + b, 0);
  const budget = options.maxChunkBytes ?? DEFAULT_CHUNK_BYTES;
  const chunk = Math.max(1, Math.min(total, Math.floor(budget / (4 * n))));
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  const out = sizes.map((s) => new Float32Array(s));

  for (let start = 0; start < total; start += chunk) {
    const end = Math.min(total, start + chunk);
    const len = end - start;
    const matrix = new Float32Array(len * n); // row = coordinate, column = client
    for (let c = 0; c < n; c++) {
      const update = await source.read(c);
      assertAligned(update, specs, sizes, `update ${c}`);
      for (let t = 0; t < sizes.length; t++) {
        const from = Math.max(start, offsets[t]);
        const to = Math.min(end, offsets[t] + sizes[t]);
        const values = update[t];
        for (let p = from; p < to; p++) {
          const v = values[p - offsets[t]];
          if (!Number.isFinite(v))
            throw new AggregationError(
              'non-finite-update',
              `update ${c} contains NaN or Infinity in tensor ${specs[t].name}`,
              { index: c, tensor: specs[t].name },
            );
          matrix[(p - start) * n + c] = v;
        }
      }
    }
    const data = keptMeans(matrix, len, n, trimEach);
    for (let t = 0; t < sizes.length; t++) {
      const from = Math.max(start, offsets[t]);
      const to = Math.min(end, offsets[t] + sizes[t]);
      if (from < to) out[t].set(data.subarray(from - start, to - start), from - offsets[t]);
    }
  }
  return out;
}

/**
 * Coordinate-wise median of the updates (mean of the two middle values for an even count).
 *
 * @example
 * const delta = await coordinateMedian(specs, { count: ids.length, read: (i) => store.readUpdate(ids[i]) });
 */
export function coordinateMedian(
  specs: readonly WeightSpec[],
  source: UpdateSource,
  options: RobustOptions = {},
): Promise<Float32Array[]> {
  return trimmedByCount(specs, source, Math.floor((Math.max(1, source.count) - 1) / 2), options);
}

/**
 * Coordinate-wise trimmed mean: drops floor(trimFraction * n) values at each end.
 *
 * @example
 * const delta = await trimmedMean(specs, source, 0.1); // drop the top and bottom 10%
 */
export function trimmedMean(
  specs: readonly WeightSpec[],
  source: UpdateSource,
  trimFraction: number,
  options: RobustOptions = {},
): Promise<Float32Array[]> {
  if (!(Number.isFinite(trimFraction) && trimFraction >= 0 && trimFraction < 0.5)) {
    return Promise.reject(new AggregationError('bad-option', `trimFraction must be in [0, 0.5), got ${trimFraction}`));
  }
  return trimmedByCount(specs, source, Math.floor(trimFraction * source.count), options);
}
