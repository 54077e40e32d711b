/**
 * Mann-Whitney U (Wilcoxon rank-sum) test for two independent samples, with
 * average ranks for ties, the tie-corrected variance and the normal
 * approximation with continuity correction: the same numbers as
 * `scipy.stats.mannwhitneyu(x, y, method='asymptotic', use_continuity=True)`.
 *
 * Canary analysis uses it for latency and confidence, where distributions are
 * skewed and a t-test's normality assumption does not hold.
 */
import { normalSf } from './distributions.ts';

export type Alternative = 'two-sided' | 'greater' | 'less';

export interface MannWhitneyResult {
  /** U of the first sample: pairs (x_i, y_j) with x_i > y_j, ties counting 1/2. */
  u: number;
  /** Standardized statistic of U (continuity-corrected toward the mean for the alternative). */
  z: number;
  pValue: number;
  /** U / (n1 * n2): probability that a random x exceeds a random y (ties 1/2). 0.5 = no difference. */
  probabilityGreater: number;
  n1: number;
  n2: number;
}

/** Ranks 1..n with ties given their average rank; also the tie term sum(t^3 - t). */
function rankWithTies(values: readonly number[]): { ranks: Float64Array; tieTerm: number } {
  const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Float64Array(values.length);
  let tieTerm = 0;
  for (let i = 0; i < order.length; ) {
    let j = i + 1;
    while (j < order.length && values[order[j]] === values[order[i]]) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) ranks[order[k]] = rank;
    const t = j - i;
    tieTerm += t * t * t - t;
    i = j;
  }
  return { ranks, tieTerm };
}

/**
 * Tests whether `x` tends to be larger than (`greater`), smaller than (`less`)
 * or different from (`two-sided`) `y`.
 *
 * @example
 * mannWhitneyU([19, 22, 16, 29, 24], [20, 11, 17, 12]) // { u: 17, pValue: 0.1113..., ... }
 */
export function mannWhitneyU(
  x: readonly number[],
  y: readonly number[],
  alternative: Alternative = 'two-sided',
): MannWhitneyResult {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('Mann-Whitney U needs at least one value in each sample');
  for (const v of [...x, ...y])
    if (!Number.isFinite(v)) throw new RangeError(`Mann-Whitney U needs finite values, got ${v}`);
  const { ranks, tieTerm } = rankWithTies([...x, ...y]);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i];
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const n = n1 + n2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const probabilityGreater = u1 / (n1 * n2);
  if (!(variance > 0)) return { u: u1, z: 0, pValue: 1, probabilityGreater, n1, n2 };
  const sd = Math.sqrt(variance);
  // The statistic that is large under the alternative, shifted half a unit toward the mean.
  const u = alternative === 'greater' ? u1 : alternative === 'less' ? u2 : Math.max(u1, u2);
  const z = (u - mean - 0.5) / sd;
  const tail = normalSf(z);
  const pValue = alternative === 'two-sided' ? Math.min(1, 2 * tail) : tail;
  return { u: u1, z: alternative === 'less' ? -z : z, pValue, probabilityGreater, n1, n2 };
}
