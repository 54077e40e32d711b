/**
 * Two-proportion z-test with the pooled standard error: is the rate of
 * successes in sample 1 different from sample 2? Used for labelled accuracy
 * and prediction error rate, canary (1) against control (2).
 */
import type { Alternative } from './mann-whitney.ts';
import { normalSf } from './distributions.ts';

export interface ProportionTestResult {
  p1: number;
  p2: number;
  /** p1 - p2. */
  difference: number;
  z: number;
  pValue: number;
}

/**
 * @example
 * twoProportionZTest(450, 500, 420, 500) // { z: 2.8209..., pValue: 0.004788..., ... }
 */
export function twoProportionZTest(
  successes1: number,
  trials1: number,
  successes2: number,
  trials2: number,
  alternative: Alternative = 'two-sided',
): ProportionTestResult {
  for (const [name, s, n] of [
    ['1', successes1, trials1],
    ['2', successes2, trials2],
  ] as const) {
    if (!(n > 0) || !(s >= 0) || s > n)
      throw new RangeError(`sample ${name} needs 0 <= successes <= trials and trials > 0, got ${s}/${n}`);
  }
  const p1 = successes1 / trials1;
  const p2 = successes2 / trials2;
  const pooled = (successes1 + successes2) / (trials1 + trials2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / trials1 + 1 / trials2));
  const difference = p1 - p2;
  // Both samples all-success or all-failure: no evidence of any difference.
  if (se === 0) return { p1, p2, difference, z: 0, pValue: 1 };
  const z = difference / se;
  const pValue =
    alternative === 'two-sided'
      ? Math.min(1, 2 * normalSf(Math.abs(z)))
      : alternative === 'greater'
        ? normalSf(z)
        : normalSf(-z);
  return { p1, p2, difference, z, pValue };
}
