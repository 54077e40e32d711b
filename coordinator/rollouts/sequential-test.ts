/**
 * Always-valid tests for canary analysis, which re-tests the same growing
 * stage every few seconds. A fixed-horizon p-value checked at every look
 * crosses alpha by chance far more often than alpha over a long stage; the
 * tests here bound the chance that an equal candidate EVER crosses, over
 * every look, by the level asked for.
 *
 * Harm (one-sided, "canary worse"): the mixture sequential probability ratio
 * test of Johari, Koomen, Pekelis and Walsh ("Always valid inference",
 * Operations Research 2022) on the normal approximation of a difference of
 * two means. With estimate d ~ N(theta, V), S = d / V is a Brownian motion in
 * information time I = 1 / V (whatever the two cohorts' sizes do), so for
 * every theta > 0, exp(theta S - theta^2 I / 2) is a martingale under
 * theta = 0 and a supermartingale under theta <= 0 (canary not worse). Mixing
 * theta over a half-normal prior with scale tau gives
 *
 *   Lambda = 2 sqrt(V / (V + tau^2)) exp(tau^2 d^2 / (2 V (V + tau^2))) Phi(tau d / sqrt(V (V + tau^2)))
 *
 * and by Ville's inequality P(Lambda >= 1 / alpha at any look) <= alpha. The
 * always-valid p-value is min(1, 1 / Lambda): P(it is ever <= alpha) <= alpha.
 * The bound is exact for Gaussian data and asymptotic (CLT) for rates; it
 * assumes independent outcomes (see the rollout-error bench for what the
 * simulated fleet shows).
 *
 * Sample-ratio mismatch: the Bayes factor of Lindon and Malek ("Anytime-valid
 * inference for multinomial count data", NeurIPS 2022) for the canary share
 * of exposed devices, Beta(k p, k (1 - p)) against the point p; also a
 * nonnegative martingale under the null, so 1 / BF is always valid.
 */
import { lnGamma } from '../../shared/stats/index.ts';

/** One-sided always-valid test of "harm > 0" from an estimate of the harm and its variance. */
export interface SequentialResult {
  /** min(1, 1 / Lambda): valid at every look at once. */
  pValue: number;
  /** ln Lambda, the mixture likelihood ratio (reject at ln(1 / alpha)). */
  logLikelihoodRatio: number;
  /** Scale of the half-normal mixing prior on the harm (the metric's units). */
  tau: number;
}

const LN2 = Math.log(2);

/**
 * ln erfc(x) for x >= 0 by the Chebyshev fit of Numerical Recipes (erfcc,
 * fractional error below 1.2e-7 everywhere), in log space so the far tail
 * never underflows; canary analysis calls this at every look of every metric.
 */
function logErfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  const poly =
    -1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return Math.log(t) - x * x + poly;
}

/** ln Phi(z), finite however far into the lower tail. */
export function logNormalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  return z < 0 ? logErfc(x) - LN2 : Math.log1p(-0.5 * Math.exp(logErfc(x)));
}

/**
 * The half-normal mSPRT of the module doc.
 * @example
 * msprtHarm(0.03, 0.0001, 0.02).pValue // 0.031: 3 points worse at a standard error of 1 point (fixed-horizon p 0.0013)
 */
export function msprtHarm(harm: number, variance: number, tau: number): SequentialResult {
  if (!(tau > 0)) throw new RangeError(`mSPRT mixing scale tau must be positive, got ${tau}`);
  if (!(variance > 0) || !Number.isFinite(harm)) return { pValue: 1, logLikelihoodRatio: 0, tau };
  const t2 = tau * tau;
  const log =
    LN2 +
    0.5 * Math.log(variance / (variance + t2)) +
    (t2 * harm * harm) / (2 * variance * (variance + t2)) +
    logNormalCdf((tau * harm) / Math.sqrt(variance * (variance + t2)));
  return { pValue: Math.min(1, Math.exp(-log)), logLikelihoodRatio: log, tau };
}

export interface ProportionHarm extends SequentialResult {
  p1: number;
  p2: number;
  /** Positive = canary worse, in absolute rate units. */
  harm: number;
}

/**
 * Canary successes s1 of n1 against control s2 of n2; pooled variance (the
 * null's), so a small canary with a rate near 0 or 1 does not fake certainty.
 * @example
 * msprtTwoProportions(861, 1000, 9020, 10000, 'higher-is-better', 0.02).pValue // 0.0014
 */
export function msprtTwoProportions(
  s1: number,
  n1: number,
  s2: number,
  n2: number,
  direction: 'higher-is-better' | 'lower-is-better',
  tau: number,
): ProportionHarm {
  const p1 = s1 / n1;
  const p2 = s2 / n2;
  const pooled = (s1 + s2) / (n1 + n2);
  const variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  const harm = direction === 'higher-is-better' ? p2 - p1 : p1 - p2;
  // Fields listed, not spread: canary analysis calls this at every look, and spreading here cost 10x the arithmetic.
  const r = msprtHarm(harm, variance, tau);
  return { pValue: r.pValue, logLikelihoodRatio: r.logLikelihoodRatio, tau, p1, p2, harm };
}

export interface QuantileHarm extends SequentialResult {
  quantile: number;
  /** The pooled sample's quantile both cohorts are scored against. */
  pooledValue: number;
  canaryValue: number;
  controlValue: number;
  /** Share of each cohort's samples above the pooled quantile (ties count half). */
  canaryShareAbove: number;
  controlShareAbove: number;
  /** Positive = canary worse: more samples above (lower-is-better) or below (higher-is-better). */
  harm: number;
}

const quantileOfSorted = (sorted: Float64Array, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

function sortedCopy(v: readonly number[]): Float64Array {
  const out = Float64Array.from(v);
  out.sort();
  return out;
}

/**
 * Quantile test (Mood's median test generalised to any quantile): each sample
 * scores 1 above the pooled q-quantile, 1/2 on it, 0 below; the canary's
 * mean score against the control's is a difference of means, tested with
 * `msprtHarm` at the pooled score variance. Under "same distribution" both
 * means are about 1 - q whatever the distribution, so no bootstrap is needed.
 * @example
 * msprtQuantile(canaryMs, controlMs, 0.95, 'lower-is-better', 0.05).harm // > 0 when the canary's tail is heavier
 */
export function msprtQuantile(
  canary: readonly number[],
  control: readonly number[],
  q: number,
  direction: 'higher-is-better' | 'lower-is-better',
  tau: number,
): QuantileHarm {
  return msprtQuantiles(canary, control, [q], direction, tau)[0];
}

/** The k-th smallest (0-based) of the union of two sorted arrays, by a merge walk. */
function kthOfSorted(x: Float64Array, y: Float64Array, k: number): number {
  let i = 0;
  let j = 0;
  for (let taken = 0; ; taken++) {
    const fromX = j >= y.length || (i < x.length && x[i] <= y[j]);
    const v = fromX ? x[i++] : y[j++];
    if (taken === k) return v;
  }
}

/** Index of the first element of sorted `v` that is > m (strict) or >= m. */
function bound(v: Float64Array, m: number, strict: boolean): number {
  let lo = 0;
  let hi = v.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (strict ? v[mid] <= m : v[mid] < m) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `msprtQuantile` at several quantiles, sorting each cohort once (the
 * analysis runs this on up to 20,000 samples a cohort at every look).
 * @example
 * msprtQuantiles(canaryMs, controlMs, [0.5, 0.95], 'lower-is-better', 0.05).map((r) => r.pValue)
 */
export function msprtQuantiles(
  canary: readonly number[],
  control: readonly number[],
  quantiles: readonly number[],
  direction: 'higher-is-better' | 'lower-is-better',
  tau: number,
): QuantileHarm[] {
  const x = sortedCopy(canary);
  const y = sortedCopy(control);
  const n = x.length + y.length;
  return quantiles.map((q) => {
    const m = kthOfSorted(x, y, Math.min(n - 1, Math.floor(q * n)));
    const aboveX = x.length - bound(x, m, true);
    const aboveY = y.length - bound(y, m, true);
    const tiesX = x.length - bound(x, m, false) - aboveX;
    const tiesY = y.length - bound(y, m, false) - aboveY;
    const sx = aboveX + 0.5 * tiesX;
    const sy = aboveY + 0.5 * tiesY;
    const mean = (sx + sy) / n;
    const sumSquares = aboveX + aboveY + 0.25 * (tiesX + tiesY);
    const spread = Math.max(0, sumSquares / n - mean * mean) * (n / Math.max(1, n - 1));
    const variance = spread * (1 / x.length + 1 / y.length);
    const above1 = sx / x.length;
    const above2 = sy / y.length;
    const harm = direction === 'lower-is-better' ? above1 - above2 : above2 - above1;
    const r = msprtHarm(harm, variance, tau);
    return {
      pValue: r.pValue,
      logLikelihoodRatio: r.logLikelihoodRatio,
      tau,
      quantile: q,
      pooledValue: m,
      canaryValue: quantileOfSorted(x, q),
      controlValue: quantileOfSorted(y, q),
      canaryShareAbove: above1,
      controlShareAbove: above2,
      harm,
    };
  });
}

/** Prior concentration k of the sequential sample-ratio test: prior sd of the share is sqrt(p (1 - p) / (k + 1)). */
export const SRM_PRIOR_CONCENTRATION = 1000;

/**
 * ln of the Beta-binomial Bayes factor against the assigned share: a
 * nonnegative martingale with mean 1 while devices land in the canary with
 * probability `expectedCanaryShare`, each independently (the cohort hash).
 * @example
 * sampleRatioLogBayesFactor(50, 950, 0.05) // < 0: exactly the assigned share
 */
export function sampleRatioLogBayesFactor(
  canary: number,
  control: number,
  expectedCanaryShare: number,
  concentration = SRM_PRIOR_CONCENTRATION,
): number {
  const p = expectedCanaryShare;
  const a = concentration * p;
  const b = concentration * (1 - p);
  const logBeta = (x: number, y: number) => lnGamma(x) + lnGamma(y) - lnGamma(x + y);
  return logBeta(a + canary, b + control) - logBeta(a, b) - canary * Math.log(p) - control * Math.log(1 - p);
}

/**
 * Always-valid p-value that exposure does not follow the assigned share.
 * @example
 * sequentialSampleRatio(120, 880, 0.05) // about 1e-9: 12% of devices on a 5% canary
 */
export function sequentialSampleRatio(
  canary: number,
  control: number,
  expectedCanaryShare: number,
  concentration = SRM_PRIOR_CONCENTRATION,
): number {
  return Math.min(1, Math.exp(-sampleRatioLogBayesFactor(canary, control, expectedCanaryShare, concentration)));
}
