/**
 * How much of a FedAvg step one device may own. FedAvg weights each update by
 * its example count, and a count is the device's own claim: even capped by
 * the plan, one device claiming the cap among devices holding a few examples
 * each would own nearly all of the step. So the mean strategies lower every
 * weight above a common ceiling c to c, with c the largest level at which no
 * device's share of the (lowered) total exceeds `maxShare`. Weights under the
 * ceiling keep their FedAvg proportions; an honest round whose counts are
 * all within the bound is untouched.
 */
import { AggregationError } from './errors.ts';

/**
 * The share bound for `reports` updates: `factor / reports` (factor times an
 * equal share), 1 (no bound) when that reaches 1.
 *
 * @example maxWeightShare(2, 5) // 0.4
 */
export function maxWeightShare(factor: number, reports: number): number {
  if (!(Number.isFinite(factor) && factor >= 1))
    throw new AggregationError('bad-option', `maxDeviceWeightFactor must be a finite number >= 1, got ${factor}`, {
      factor,
    });
  if (!(Number.isInteger(reports) && reports >= 1))
    throw new AggregationError('bad-option', `reports must be a positive integer, got ${reports}`, { reports });
  return Math.min(1, factor / reports);
}

/**
 * The weight ceiling c such that, with every weight w lowered to min(w, c),
 * no weight exceeds `maxShare` of their sum; null when no weight needs
 * lowering. `maxShare` must be at least 1 / weights.length (else no ceiling
 * exists: equal weights already exceed it).
 *
 * @example weightCeiling([100, 100, 100, 100, 1e9], 0.4) // 266.67: 266.67 / 666.67 = 0.4
 */
export function weightCeiling(weights: readonly number[], maxShare: number): number | null {
  const n = weights.length;
  if (n === 0 || maxShare >= 1) return null;
  if (!(maxShare * n >= 1 - 1e-12))
    throw new AggregationError(
      'bad-option',
      `a share bound of ${maxShare} cannot hold for ${n} updates (equal shares are 1/${n})`,
      { maxShare, n },
    );
  for (const w of weights) {
    if (!(Number.isFinite(w) && w > 0))
      throw new AggregationError('bad-weight', `update weights must be positive finite numbers, got ${w}`, {
        weight: w,
      });
  }
  const sorted = [...weights].sort((a, b) => a - b);
  const total = sorted.reduce((a, b) => a + b, 0);
  if (sorted[n - 1] <= maxShare * total) return null;
  // With the k smallest weights below c and the rest lowered to c, the bound
  // reads c <= maxShare * (S_k + (n - k) c). Its largest solution lies in the
  // first segment [w_k, w_k+1] where the right side grows slower than c.
  let below = 0;
  for (let k = 0; k < n; k++) {
    const above = n - k;
    if (maxShare * above < 1 - 1e-12) {
      const c = (maxShare * below) / (1 - maxShare * above);
      if (c <= sorted[k]) return c;
    }
    below += sorted[k];
  }
  return null; // unreachable: the largest weight exceeds the bound, so some segment holds c
}
