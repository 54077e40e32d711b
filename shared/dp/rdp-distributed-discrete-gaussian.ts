/**
 * Renyi DP of the distributed discrete Gaussian (DDG): each of n devices adds
 * its own N_Z(0, sigma^2)^d to an integer vector, and only the sum is seen.
 * The sum of n discrete Gaussians is not exactly a discrete Gaussian; the
 * bound below pays for the gap with tau.
 *
 * The bound, Kairouz, Liu, Steinke, "The Distributed Discrete Gaussian
 * Mechanism for Federated Learning with Secure Aggregation" (ICML 2021,
 * arXiv:2102.06387), Proposition 14 (the RDP form behind their Theorem 1):
 * for sigma >= 1/2, alpha >= 1, n devices, d coordinates, and a difference
 * Delta in Z^d between neighbouring inputs (one device's rounded vector),
 *
 *   tau = 10 * sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k / (k + 1))
 *   D_alpha <= min( alpha ||Delta||_2^2 / (2 n sigma^2) + tau d,
 *                   alpha/2 (||Delta||_2^2 / (n sigma^2) + 2 ||Delta||_1 tau / (sqrt(n) sigma) + tau^2 d),
 *                   alpha/2 (||Delta||_2 / (sqrt(n) sigma) + tau sqrt(d))^2 )
 *
 * With n = 1, tau = 0 and all three are the Gaussian alpha Delta^2 / (2 sigma^2).
 * Add/remove adjacency: Delta is one device's whole contribution, bounded
 * by the conditional-rounding bound (l2) and min(l2^2, sqrt(d) l2) (l1,
 * since an integer vector has ||x||_1 <= ||x||_2^2). No amplification by
 * subsampling is claimed: each round is charged in full (q = 1).
 * The modular wrap and the server's decoding are post-processing.
 */
import { DpParameterError, requireFinite, requireInteger } from './parameter-error.ts';

/** One release of the DDG sum: the parameters Proposition 14 needs, in the integer units of the grid. */
export interface DistributedDiscreteGaussian {
  /** Bound on ||Delta||_2 of one device's rounded vector (grid units). */
  l2Sensitivity: number;
  /** Bound on ||Delta||_1 of the same; defaults to min(l2^2, sqrt(d) l2). */
  l1Sensitivity?: number;
  /** sigma^2 each device adds per coordinate (grid units squared): a variance, not a stddev. */
  deviceNoiseVariance: number;
  /** n: devices whose noise is in the sum (the fewest survivors the round accepts). */
  devices: number;
  /** d: coordinates (after padding to a power of 2). */
  dimension: number;
}

/** tau of Proposition 14: 10 * sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k/(k+1)); 0 for one device. */
export function ddgTau(deviceNoiseVariance: number, devices: number): number {
  let tau = 0;
  for (let k = 1; k < devices; k++) {
    const term = Math.exp((-2 * Math.PI * Math.PI * deviceNoiseVariance * k) / (k + 1));
    tau += term;
  }
  return 10 * tau;
}

export function requireDdg(m: DistributedDiscreteGaussian): void {
  requireFinite('l2Sensitivity', m.l2Sensitivity);
  if (m.l2Sensitivity < 0) throw new DpParameterError('l2Sensitivity', `must be >= 0, got ${m.l2Sensitivity}`);
  if (m.l1Sensitivity !== undefined) {
    requireFinite('l1Sensitivity', m.l1Sensitivity);
    if (m.l1Sensitivity < 0) throw new DpParameterError('l1Sensitivity', `must be >= 0, got ${m.l1Sensitivity}`);
  }
  requireFinite('deviceNoiseVariance', m.deviceNoiseVariance);
  if (m.deviceNoiseVariance < 0.25)
    throw new DpParameterError(
      'deviceNoiseVariance',
      `Proposition 14 of Kairouz et al. needs sigma >= 1/2 (variance >= 0.25), got ${m.deviceNoiseVariance}`,
    );
  requireInteger('devices', m.devices, 1);
  requireInteger('dimension', m.dimension, 1);
}

/** RDP at `order` of one DDG sum (Proposition 14 above). */
export function rdpDistributedDiscreteGaussian(m: DistributedDiscreteGaussian, order: number): number {
  if (order === Infinity) return Infinity;
  const { l2Sensitivity: l2, deviceNoiseVariance: s2, devices: n, dimension: d } = m;
  const l1 = m.l1Sensitivity ?? Math.min(l2 * l2, Math.sqrt(d) * l2);
  const tau = ddgTau(s2, n);
  const ns2 = n * s2;
  const b1 = (order * l2 * l2) / (2 * ns2) + tau * d;
  const b2 = (order / 2) * ((l2 * l2) / ns2 + (2 * l1 * tau) / Math.sqrt(ns2) + tau * tau * d);
  const b3 = (order / 2) * (l2 / Math.sqrt(ns2) + tau * Math.sqrt(d)) ** 2;
  return Math.min(b1, b2, b3);
}
