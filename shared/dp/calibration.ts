/**
 * Noise calibration: the smallest noise multiplier whose epsilon (by the RDP
 * accountant, improved conversion) meets a target, by bisection. Epsilon is
 * non-increasing in the noise multiplier (each order's bound is), so bisection
 * on [lo, hi] with eps(lo) > target >= eps(hi) is sound.
 */
import { computeEpsilon } from './accountant.ts';
import {
  DpParameterError,
  requireDelta,
  requireFinite,
  requireInteger,
  requireSamplingRate,
} from './parameter-error.ts';

/** Beyond this, the target is unreachable in any useful sense. */
const MAX_NOISE_MULTIPLIER = 1e6;

/**
 * Smallest noise multiplier z (to relative `tolerance`, default 1e-4) such that
 * `steps` rounds at `samplingRate` are (targetEpsilon, delta)-DP. The result
 * always meets the target; z * (1 - tolerance) does not.
 *
 * @example
 * calibrateNoiseMultiplier({ samplingRate: 0.01, steps: 1000, delta: 1e-5, targetEpsilon: 2 }); // ~0.98
 */
export function calibrateNoiseMultiplier(p: {
  samplingRate: number;
  steps: number;
  delta: number;
  targetEpsilon: number;
  tolerance?: number;
}): number {
  requireSamplingRate(p.samplingRate);
  requireInteger('steps', p.steps, 1);
  requireDelta(p.delta);
  requireFinite('targetEpsilon', p.targetEpsilon);
  if (p.targetEpsilon <= 0) throw new DpParameterError('targetEpsilon', `must be > 0, got ${p.targetEpsilon}`);
  const tolerance = p.tolerance ?? 1e-4;
  requireFinite('tolerance', tolerance);
  if (tolerance <= 0 || tolerance >= 1) {
    throw new DpParameterError('tolerance', `must be in (0, 1), got ${tolerance}`);
  }
  const epsilonAt = (noiseMultiplier: number): number =>
    computeEpsilon({ samplingRate: p.samplingRate, noiseMultiplier, steps: p.steps, delta: p.delta }).epsilon;

  let hi = 1;
  while (epsilonAt(hi) > p.targetEpsilon) {
    hi *= 2;
    if (hi > MAX_NOISE_MULTIPLIER) {
      throw new DpParameterError(
        'targetEpsilon',
        `${p.targetEpsilon} is unreachable with a noise multiplier <= ${MAX_NOISE_MULTIPLIER}; raise the target or delta, or lower steps or samplingRate`,
      );
    }
  }
  if (hi === 1) {
    // Large targets: walk down instead. Below 1e-6 any noise at all meets the target.
    while (epsilonAt(hi / 2) <= p.targetEpsilon) {
      hi /= 2;
      if (hi < 1e-6) return hi;
    }
  }
  let lo = hi / 2; // invariant: epsilonAt(lo) > target >= epsilonAt(hi)
  while (hi - lo > tolerance * hi) {
    const mid = (lo + hi) / 2;
    if (epsilonAt(mid) <= p.targetEpsilon) hi = mid;
    else lo = mid;
  }
  return hi;
}
