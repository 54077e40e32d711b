/**
 * Chi-squared goodness of fit, and its use as the sample-ratio-mismatch (SRM)
 * check of an experiment: if 5% of devices were assigned to the canary but
 * the exposed counts say 9%, something (a client bug, a caching proxy, a
 * crash on load) is filtering one cohort, and no metric comparison between
 * the cohorts can be trusted.
 */
import { chiSquaredSf } from './distributions.ts';

export interface ChiSquaredResult {
  statistic: number;
  df: number;
  pValue: number;
  expected: number[];
}

/**
 * Pearson's chi-squared test of observed counts against expected proportions
 * (normalized to the observed total). Categories with zero expected share are
 * not allowed: a count there is impossible, not unlikely.
 *
 * @example
 * chiSquaredGoodnessOfFit([530, 9470], [0.05, 0.95]) // { statistic: 1.894..., df: 1, pValue: 0.1686... }
 */
export function chiSquaredGoodnessOfFit(
  observed: readonly number[],
  expectedShares: readonly number[],
): ChiSquaredResult {
  if (observed.length < 2 || observed.length !== expectedShares.length) {
    throw new RangeError(
      `goodness of fit needs at least 2 categories and one expected share per observed count (got ${observed.length} and ${expectedShares.length})`,
    );
  }
  const total = observed.reduce((a, b) => a + b, 0);
  const shareSum = expectedShares.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new RangeError('goodness of fit needs a positive total count');
  if (expectedShares.some((s) => !(s > 0))) throw new RangeError('every expected share must be positive');
  const expected = expectedShares.map((s) => (total * s) / shareSum);
  let statistic = 0;
  for (let i = 0; i < observed.length; i++) statistic += (observed[i] - expected[i]) ** 2 / expected[i];
  const df = observed.length - 1;
  return { statistic, df, pValue: chiSquaredSf(statistic, df), expected };
}

export interface SampleRatioCheck extends ChiSquaredResult {
  /** True when pValue < threshold: the split is not what assignment promised. */
  mismatch: boolean;
  observedCanaryShare: number;
  expectedCanaryShare: number;
}

/** p-value below which a sample-ratio mismatch halts an experiment (the usual, deliberately strict choice). */
export const SRM_P_THRESHOLD = 0.001;

/**
 * Checks exposed canary vs control counts against the assigned canary share.
 *
 * @example
 * sampleRatioMismatch(60, 940, 0.05).mismatch // true (p ~ 4e-6)
 */
export function sampleRatioMismatch(
  canary: number,
  control: number,
  expectedCanaryShare: number,
  threshold = SRM_P_THRESHOLD,
): SampleRatioCheck {
  if (!(expectedCanaryShare > 0 && expectedCanaryShare < 1))
    throw new RangeError(`expected canary share must be in (0, 1), got ${expectedCanaryShare}`);
  const result = chiSquaredGoodnessOfFit([canary, control], [expectedCanaryShare, 1 - expectedCanaryShare]);
  return {
    ...result,
    mismatch: result.pValue < threshold,
    observedCanaryShare: canary / (canary + control),
    expectedCanaryShare,
  };
}
