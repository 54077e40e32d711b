import { describe, expect, it } from 'vitest';
import { chiSquaredSf, lnGamma, normalCdf, normalSf, regularizedGammaQ } from './distributions.ts';

// Reference values from scipy 1.17 (scipy.stats.norm / chi2, scipy.special.gammaln).
describe('distributions', () => {
  it('lnGamma matches factorials and Gamma(1/2) = sqrt(pi)', () => {
    expect(lnGamma(10)).toBeCloseTo(Math.log(362880), 12);
    expect(lnGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
  });
  it('Q(1, x) = exp(-x)', () => {
    for (const x of [0.1, 1, 2, 7.5, 30]) expect(regularizedGammaQ(1, x) / Math.exp(-x)).toBeCloseTo(1, 12);
  });
  it('normal tails agree with scipy', () => {
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517795, 13);
    expect(normalSf(3.5) / 0.00023262907903552502).toBeCloseTo(1, 10);
    expect(normalCdf(-0.3)).toBeCloseTo(0.3820885778110474, 13);
    expect(normalSf(0)).toBe(0.5);
  });
  it('chi-squared survival agrees with scipy and tables', () => {
    expect(chiSquaredSf(3.841458820694124, 1)).toBeCloseTo(0.05, 12);
    expect(chiSquaredSf(10, 3)).toBeCloseTo(0.01856613546304325, 12);
    expect(chiSquaredSf(0.5, 1)).toBeCloseTo(0.47950012218695337, 12);
    expect(chiSquaredSf(25, 4) / 5.0309817823062075e-5).toBeCloseTo(1, 9);
    // df = 2 is exactly exponential.
    expect(chiSquaredSf(5.991, 2)).toBeCloseTo(Math.exp(-5.991 / 2), 13);
    expect(chiSquaredSf(0, 2)).toBe(1);
  });
});
