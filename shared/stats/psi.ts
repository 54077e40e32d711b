/**
 * Population stability index between a reference and an actual distribution
 * over the same bins: PSI = sum (a_i - e_i) ln(a_i / e_i). Common reading:
 * < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 significant drift.
 *
 * Empty bins would make the log infinite, so every proportion is floored at
 * `epsilon` (then renormalized); a bin empty on both sides contributes 0.
 * Histograms from clients may use different ranges, so `rebin` maps them onto
 * one grid first, spreading each bin's count uniformly over its width.
 */

/** Flag drift above this PSI. */
export const PSI_DRIFT_THRESHOLD = 0.2;
export const DEFAULT_PSI_EPSILON = 1e-4;

export interface BinnedCounts {
  min: number;
  max: number;
  counts: readonly number[];
}

function proportions(counts: readonly number[], epsilon: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new RangeError('PSI needs a histogram with a positive total count');
  const floored = counts.map((c) => Math.max(c / total, epsilon));
  const sum = floored.reduce((a, b) => a + b, 0);
  return floored.map((p) => p / sum);
}

/**
 * PSI of `actual` against `expected` (the reference), both counts over the same bins.
 *
 * @example
 * populationStabilityIndex([50, 50], [25, 75]) // 0.2747...
 */
export function populationStabilityIndex(
  expected: readonly number[],
  actual: readonly number[],
  epsilon = DEFAULT_PSI_EPSILON,
): number {
  if (expected.length !== actual.length || expected.length === 0) {
    throw new RangeError(
      `PSI needs the same non-zero number of bins on both sides (got ${expected.length} and ${actual.length}); rebin first`,
    );
  }
  const e = proportions(expected, epsilon);
  const a = proportions(actual, epsilon);
  let psi = 0;
  for (let i = 0; i < e.length; i++) psi += (a[i] - e[i]) * Math.log(a[i] / e[i]);
  return psi;
}

/**
 * Maps a histogram onto `bins` equal bins over [min, max]; mass outside the
 * range goes to the first or last bin.
 *
 * @example
 * rebin({ min: 0, max: 2, counts: [4, 8] }, 0, 1, 2) // [2, 10]
 */
export function rebin(h: BinnedCounts, min: number, max: number, bins: number): number[] {
  if (!(max > min) || !(bins >= 1))
    throw new RangeError(`rebin needs max > min and bins >= 1, got [${min}, ${max}] x ${bins}`);
  const out = new Array<number>(bins).fill(0);
  const width = (h.max - h.min) / h.counts.length;
  const target = (max - min) / bins;
  h.counts.forEach((count, i) => {
    if (count === 0) return;
    const lo = h.min + i * width;
    const hi = lo + width;
    for (let j = 0; j < bins; j++) {
      // Open-ended first and last target bins catch everything beyond the range.
      const tLo = j === 0 ? -Infinity : min + j * target;
      const tHi = j === bins - 1 ? Infinity : min + (j + 1) * target;
      const overlap = Math.min(hi, tHi) - Math.max(lo, tLo);
      if (overlap > 0) out[j] += (count * overlap) / width;
    }
  });
  return out;
}

/**
 * Sums histograms onto the grid spanning all of them (bins = the most any has).
 *
 * @example
 * mergeHistograms([{ min: 0, max: 1, counts: [1, 2] }, { min: 0, max: 1, counts: [3, 4] }]) // { min: 0, max: 1, counts: [4, 6] }
 */
export function mergeHistograms(histograms: readonly BinnedCounts[]): BinnedCounts | null {
  if (histograms.length === 0) return null;
  const min = Math.min(...histograms.map((h) => h.min));
  const max = Math.max(...histograms.map((h) => h.max));
  const bins = Math.max(...histograms.map((h) => h.counts.length));
  const counts = new Array<number>(bins).fill(0);
  for (const h of histograms) {
    const same = h.min === min && h.max === max && h.counts.length === bins;
    const mapped = same ? h.counts : rebin(h, min, max, bins);
    mapped.forEach((c, i) => (counts[i] += c));
  }
  return { min, max, counts };
}
