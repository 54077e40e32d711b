/**
 * log(A_alpha) against high-precision ground truth, for the parameter sets of
 * dp_accounting's test_compute_log_a_equals_mp plus three of our own.
 */
import { describe, expect, it } from 'vitest';
import { logAFractional, logAInteger } from './rdp.ts';

// Computed with mpmath 1.3.0 at 40 digits (script in the comment below): integer orders by the exact
// binomial sum, fractional ones by quad() of mu0(z) * ((1-q) + q exp((2z-1)/(2 sigma^2)))^alpha, split
// at 0, 0.5 and around z = alpha (the plain quad of dp_accounting's test is off by 7e-5 for sigma=0.1,
// alpha=256, inside that test's rtol=1e-4 but not tight enough to be a reference).
//   quad(f, [-inf, 0, .5, a-10s, a-s, a, a+s, a+10s, inf], maxdegree=10)
const REFERENCE: Array<[q: number, sigma: number, order: number, logA: number]> = [
  [1e-7, 0.1, 1.01, 4.0034123225263986e-8],
  [1e-6, 0.1, 256, 3260463.2292971608],
  [1e-5, 0.1, 256.1, 3263607.0397884213],
  [1e-6, 1, 27, 8.7695113048484979e-10],
  [1e-4, 1, 1.5, 6.4426869538366497e-9],
  [1e-3, 1, 2, 1.7182803522145154e-6],
  [0.01, 10, 20, 0.00019129699912842963],
  [0.1, 100, 20.5, 0.00019991818458068296],
  [0.99, 0.1, 256, 3263997.4271140211],
  [0.999, 100, 256.1, 3.2601080379731127],
  [0.01, 2.5, 1.5, 6.5007089718803974e-6],
  [0.05, 0.8, 3.7, 0.1012641132125519],
  [0.3, 1.5, 10.5, 9.9163755525111237],
];

describe('log(A_alpha)', () => {
  it.each(REFERENCE)('q=%s sigma=%s order=%s within 1e-6 relative', (q, sigma, order, want) => {
    const got = Number.isInteger(order) ? logAInteger(q, sigma, order) : logAFractional(q, sigma, order);
    expect(Math.abs(got - want) / Math.abs(want)).toBeLessThan(1e-6);
  });

  it('is continuous across integer and fractional orders (the two series meet)', () => {
    const atInteger = logAInteger(0.05, 1.2, 8);
    const justAbove = logAFractional(0.05, 1.2, 8 + 1e-9);
    expect(Math.abs(justAbove - atInteger) / atInteger).toBeLessThan(1e-6);
  });
});
