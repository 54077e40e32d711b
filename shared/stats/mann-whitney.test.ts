import { describe, expect, it } from 'vitest';
import { mannWhitneyU } from './mann-whitney.ts';

// Reference: scipy.stats.mannwhitneyu(x, y, method='asymptotic', use_continuity=True).
describe('mannWhitneyU', () => {
  const males = [19, 22, 16, 29, 24];
  const females = [20, 11, 17, 12];
  it('matches scipy on the scipy documentation example (no ties)', () => {
    expect(mannWhitneyU(males, females).u).toBe(17);
    expect(mannWhitneyU(males, females).pValue).toBeCloseTo(0.11134688653314041, 12);
    expect(mannWhitneyU(males, females, 'greater').pValue).toBeCloseTo(0.055673443266570206, 12);
    expect(mannWhitneyU(males, females, 'less').pValue).toBeCloseTo(0.9669037101389033, 12);
  });
  it('applies the tie correction like scipy', () => {
    const x = [1, 2, 2, 3, 3, 3, 4, 5, 5, 9];
    const y = [2, 3, 4, 4, 6, 6, 7, 8, 8, 8, 10];
    const two = mannWhitneyU(x, y);
    expect(two.u).toBe(26.5);
    expect(two.pValue).toBeCloseTo(0.04689509203961693, 12);
    expect(mannWhitneyU(x, y, 'greater').pValue).toBeCloseTo(0.9802154683191754, 12);
    expect(mannWhitneyU(x, y, 'less').pValue).toBeCloseTo(0.023447546019808464, 12);
    expect(two.probabilityGreater).toBeCloseTo(26.5 / 110, 12);
  });
  it('is symmetric and gives p = 1 for identical constant samples', () => {
    expect(mannWhitneyU(females, males).pValue).toBeCloseTo(mannWhitneyU(males, females).pValue, 14);
    expect(mannWhitneyU([3, 3, 3], [3, 3]).pValue).toBe(1);
  });
  it('refuses empty or non-finite samples', () => {
    expect(() => mannWhitneyU([], [1])).toThrow(RangeError);
    expect(() => mannWhitneyU([1, Number.NaN], [1])).toThrow(RangeError);
  });
});
