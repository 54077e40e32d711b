import { describe, expect, it } from 'vitest';
import { mergeHistograms, populationStabilityIndex, PSI_DRIFT_THRESHOLD, rebin } from './psi.ts';

describe('population stability index', () => {
  it('matches the formula on a hand-computed example', () => {
    // (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5) = 0.17329 + 0.10137
    expect(populationStabilityIndex([50, 50], [25, 75])).toBeCloseTo(0.25 * Math.log(2) + 0.25 * Math.log(1.5), 12);
    expect(populationStabilityIndex([10, 20, 30], [1, 2, 3])).toBeCloseTo(0, 12);
  });
  it('stays finite with empty bins and flags a real shift', () => {
    const psi = populationStabilityIndex([100, 0, 0], [0, 0, 100]);
    expect(Number.isFinite(psi)).toBe(true);
    expect(psi).toBeGreaterThan(PSI_DRIFT_THRESHOLD);
    expect(populationStabilityIndex([100, 100, 0], [100, 100, 0])).toBe(0);
  });
  it('rebins and merges histograms of different ranges, keeping the mass', () => {
    expect(rebin({ min: 0, max: 2, counts: [4, 8] }, 0, 1, 2)).toEqual([2, 10]);
    const merged = mergeHistograms([
      { min: 0, max: 1, counts: [1, 2] },
      { min: 0, max: 2, counts: [4, 0, 0, 4] },
    ])!;
    expect(merged.min).toBe(0);
    expect(merged.max).toBe(2);
    expect(merged.counts.reduce((a, b) => a + b, 0)).toBeCloseTo(11, 12);
    expect(mergeHistograms([])).toBeNull();
  });
  it('refuses mismatched bins', () => {
    expect(() => populationStabilityIndex([1, 2], [1, 2, 3])).toThrow(RangeError);
  });
});
