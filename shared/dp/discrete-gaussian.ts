/**
 * The exact discrete Gaussian sampler of Canonne, Kamath and Steinke ("The
 * Discrete Gaussian for Differential Privacy", NeurIPS 2020, Algorithms 1-3):
 * P[X = x] proportional to exp(-x^2 / (2 sigma^2)) over the integers. Every
 * step is a Bernoulli with a rational parameter decided by uniform integers
 * from crypto.getRandomValues, so there is no floating-point arithmetic in
 * the sample path and none of the float attacks of Mironov (2012).
 *
 * The variance parameter sigma^2 is taken as the rational
 * ceil(noiseVariance * 2^16) / 2^16: rounded up (more noise, never less) by
 * under 2^-16. Used by the distributed discrete Gaussian of secure
 * aggregation (shared/secagg/ddg.ts), where values already live on an integer grid.
 *
 * @example
 * const noise = discreteGaussianNoise(1000, 25); // variance 25 (stddev 5), integers
 */
import { CryptoUniform } from './crypto-uniform.ts';
import { DpParameterError, requireFinite } from './parameter-error.ts';

/** sigma^2 is held as VARIANCE_NUMERATOR / 2^16. */
const VARIANCE_DENOMINATOR_LOG2 = 16n;

/** Bernoulli(exp(-numerator / denominator)), Algorithm 1 of CKS 2020 (0 <= gamma <= 1 by a series, larger by repetition). */
function bernoulliExpNeg(u: CryptoUniform, numerator: bigint, denominator: bigint): boolean {
  let n = numerator;
  // exp(-gamma) = exp(-1)^floor(gamma) * exp(-(gamma - floor(gamma))).
  while (n > denominator) {
    if (!bernoulliExpNegAtMostOne(u, denominator, denominator)) return false;
    n -= denominator;
  }
  return bernoulliExpNegAtMostOne(u, n, denominator);
}

/** For gamma = n/d in [0, 1]: draw A_k ~ Bernoulli(gamma / k) for k = 1, 2, ... until one is 0; true iff that k is odd. */
function bernoulliExpNegAtMostOne(u: CryptoUniform, n: bigint, d: bigint): boolean {
  let k = 1n;
  for (;;) {
    if (u.belowBig(d * k) >= n) return k % 2n === 1n;
    k += 1n;
  }
}

/** Small-number variant of the above for gamma = n/d, d * k staying far below 2^53. */
function bernoulliExpNegSmall(u: CryptoUniform, n: number, d: number): boolean {
  let k = 1;
  for (;;) {
    if (!u.bernoulli(n, d * k)) return k % 2 === 1;
    k += 1;
  }
}

/** Discrete Laplace with integer scale t (CKS Algorithm 2 with s = 1): P[Y = y] proportional to exp(-|y| / t). */
function discreteLaplace(u: CryptoUniform, t: number): number {
  for (;;) {
    const low = u.below(t);
    if (!bernoulliExpNegSmall(u, low, t)) continue;
    let high = 0;
    while (bernoulliExpNegSmall(u, 1, 1)) high += 1;
    const magnitude = low + t * high;
    const negative = u.coin();
    if (negative && magnitude === 0) continue;
    return negative ? -magnitude : magnitude;
  }
}

/** sigma^2 as an exact rational (numerator over 2^16), rounded up. */
function varianceRational(noiseVariance: number): { num: bigint; den: bigint } {
  const den = 1n << VARIANCE_DENOMINATOR_LOG2;
  const num = BigInt(Math.ceil(noiseVariance * Number(den)));
  return { num, den };
}

function requireVariance(noiseVariance: number): void {
  requireFinite('noiseVariance', noiseVariance);
  if (noiseVariance < 0) throw new DpParameterError('noiseVariance', `must be >= 0, got ${noiseVariance}`);
  if (noiseVariance > 2 ** 40)
    throw new DpParameterError('noiseVariance', `must be <= 2^40 (stddev 2^20), got ${noiseVariance}`);
}

/**
 * Writes (or adds, when `accumulate`) samples of N_Z(0, sigma^2) into `out`
 * (CKS Algorithm 3): t = floor(sigma) + 1, Y ~ discrete Laplace(t), accept
 * with probability exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2)).
 */
function writeDiscreteGaussian(out: Int32Array | Float64Array, noiseVariance: number, accumulate: boolean): void {
  if (noiseVariance === 0 || out.length === 0) return;
  const u = new CryptoUniform();
  const { num, den } = varianceRational(noiseVariance);
  const t = Math.floor(Math.sqrt(Number(num) / Number(den))) + 1;
  const tb = BigInt(t);
  // gamma = (|Y| t den - num)^2 / (2 num t^2 den), all integers.
  const gammaDenominator = 2n * num * tb * tb * den;
  for (let i = 0; i < out.length; i++) {
    let y: number;
    for (;;) {
      y = discreteLaplace(u, t);
      const centred = BigInt(Math.abs(y)) * tb * den - num;
      if (bernoulliExpNeg(u, centred * centred, gammaDenominator)) break;
    }
    out[i] = accumulate ? out[i] + y : y;
  }
}

/**
 * `length` independent samples of the discrete Gaussian N_Z(0, sigma^2) with
 * sigma^2 = noiseVariance (a variance, in the integer units of the grid).
 *
 * @example
 * discreteGaussianNoise(4, 2.25) // e.g. Int32Array [ -1, 2, 0, 1 ]
 */
export function discreteGaussianNoise(length: number, noiseVariance: number): Int32Array {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new DpParameterError('length', `must be an integer >= 0, got ${String(length)}`);
  }
  requireVariance(noiseVariance);
  const out = new Int32Array(length);
  writeDiscreteGaussian(out, noiseVariance, false);
  return out;
}

/** Adds N_Z(0, noiseVariance) to every element of `target` (integers in a Float64Array), in place. */
export function addDiscreteGaussianNoise(target: Float64Array, noiseVariance: number): void {
  requireVariance(noiseVariance);
  writeDiscreteGaussian(target, noiseVariance, true);
}
