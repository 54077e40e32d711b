import { describe, expect, it } from 'vitest';
import { chiSquaredGoodnessOfFit, sampleRatioMismatch } from './chi-squared.ts';

// Reference: scipy.stats.chisquare(observed, expected_counts).
describe('chi-squared goodness of fit', () => {
  it('matches scipy', () => {
    const r = chiSquaredGoodnessOfFit([530, 9470], [0.05, 0.95]);
    expect(r.statistic).toBeCloseTo(1.8947368421052633, 12);
    expect(r.pValue).toBeCloseTo(0.1686686188878111, 12);
    expect(r.df).toBe(1);
    // A fair die thrown 60 times (textbook): counts 5, 8, 9, 8, 10, 20 -> X2 = 13.4, df 5.
    const die = chiSquaredGoodnessOfFit([5, 8, 9, 8, 10, 20], [1, 1, 1, 1, 1, 1]);
    expect(die.statistic).toBeCloseTo(13.4, 12);
    expect(die.pValue).toBeGreaterThan(0.01);
    expect(die.pValue).toBeLessThan(0.025); // table: X2(0.025, 5) = 12.83, X2(0.01, 5) = 15.09
  });
  it('flags a sample-ratio mismatch only below p = 0.001', () => {
    const bad = sampleRatioMismatch(600, 9400, 0.05);
    expect(bad.statistic).toBeCloseTo(21.05263157894737, 10);
    expect(bad.pValue).toBeCloseTo(4.468387345230037e-6, 15);
    expect(bad.mismatch).toBe(true);
    expect(sampleRatioMismatch(530, 9470, 0.05).mismatch).toBe(false);
  });
  it('refuses shares outside (0, 1)', () => {
    expect(() => sampleRatioMismatch(1, 1, 0)).toThrow(RangeError);
    expect(() => chiSquaredGoodnessOfFit([1, 2], [1, 0])).toThrow(RangeError);
  });
});
