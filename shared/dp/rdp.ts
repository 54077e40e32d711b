/**
 * Renyi-DP of the Poisson-subsampled Gaussian mechanism at one order, as
 * dp_accounting computes it (python/dp_accounting/rdp/rdp_privacy_accountant.py,
 * after Mironov, Talwar, Zhang 2019, "Renyi Differential Privacy of the Sampled
 * Gaussian Mechanism"): RDP(alpha) = log(A_alpha) / (alpha - 1), where A_alpha
 * is an exact binomial sum for integer orders and a two-sided series of erfc
 * terms for fractional orders. Everything stays in log space: for alpha = 1024
 * and small sigma the terms overflow float64 by hundreds of orders of magnitude.
 */
import { logAdd, logBinomial, logErfc, logSub } from './special-functions.ts';

/** log(A_alpha) for integer alpha >= 2 and 0 < q < 1 (exact binomial expansion). */
export function logAInteger(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigma2 = 2 * sigma * sigma;
  let logA = -Infinity;
  for (let i = 0; i <= alpha; i++) {
    const s = logBinomial(alpha, i) + i * logQ + (alpha - i) * log1mQ + (i * i - i) / twoSigma2;
    logA = logAdd(logA, s);
  }
  return logA;
}

/**
 * log(A_alpha) for fractional alpha and 0 < q < 1: the integral is split at
 * z0 and each half expanded in a (generalised) binomial series, summed until
 * both new terms drop below e^-30, as dp_accounting does.
 */
export function logAFractional(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const sigma2 = sigma * sigma;
  const z0 = sigma2 * Math.log(1 / q - 1) + 0.5;
  const sqrt2Sigma = Math.SQRT2 * sigma;
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  // binom(alpha, i) carried as log|coef| and sign: coef_{i+1} = coef_i (alpha - i) / (i + 1).
  let logCoef = 0;
  let coefPositive = true;
  for (let i = 0; ; i++) {
    if (i > 0) {
      const factor = (alpha - (i - 1)) / i;
      logCoef += Math.log(Math.abs(factor));
      if (factor < 0) coefPositive = !coefPositive;
    }
    const j = alpha - i;
    const logT0 = logCoef + i * logQ + j * log1mQ;
    const logT1 = logCoef + j * logQ + i * log1mQ;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / sqrt2Sigma);
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / sqrt2Sigma);
    const logS0 = logT0 + (i * i - i) / (2 * sigma2) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma2) + logE1;
    if (coefPositive) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30) break;
  }
  return logAdd(logA0, logA1);
}

/**
 * RDP at `order` of one step of the Gaussian mechanism with noise multiplier
 * `noiseMultiplier`, applied to a Poisson sample of rate `samplingRate`.
 * Conventions follow dp_accounting: q = 0 costs nothing, zero noise is
 * infinitely costly, q = 1 is the plain Gaussian alpha / (2 sigma^2).
 */
export function rdpPoissonSubsampledGaussian(samplingRate: number, noiseMultiplier: number, order: number): number {
  if (samplingRate === 0) return 0;
  if (order === Infinity || noiseMultiplier === 0) return Infinity;
  if (samplingRate === 1) return order / (2 * noiseMultiplier * noiseMultiplier);
  // dp_accounting divides 0 by 0 here; Infinity is the safe (unused) bound.
  if (order === 1) return Infinity;
  const logA = Number.isInteger(order)
    ? logAInteger(samplingRate, noiseMultiplier, order)
    : logAFractional(samplingRate, noiseMultiplier, order);
  return logA / (order - 1);
}
