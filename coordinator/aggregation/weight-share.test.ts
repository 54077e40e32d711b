import { describe, expect, it } from 'vitest';
import { AggregationError } from './errors.ts';
import { maxWeightShare, weightCeiling } from './weight-share.ts';

const shares = (weights: number[], c: number | null) => {
  const lowered = weights.map((w) => (c === null ? w : Math.min(w, c)));
  const total = lowered.reduce((a, b) => a + b, 0);
  return lowered.map((w) => w / total);
};

describe('maxWeightShare', () => {
  it('is factor times an equal share, at most 1', () => {
    expect(maxWeightShare(2, 5)).toBeCloseTo(0.4, 12);
    expect(maxWeightShare(2, 2)).toBe(1);
    expect(maxWeightShare(1, 4)).toBe(0.25);
    expect(() => maxWeightShare(0.5, 4)).toThrow(AggregationError);
    expect(() => maxWeightShare(2, 0)).toThrow(AggregationError);
  });
});

describe('weightCeiling', () => {
  it('leaves a round whose shares are within the bound untouched', () => {
    expect(weightCeiling([100, 300, 50], 0.7)).toBeNull();
    expect(weightCeiling([1, 1, 1, 1], 0.25)).toBeNull();
    expect(weightCeiling([5], 1)).toBeNull();
    expect(weightCeiling([], 0.5)).toBeNull();
  });

  it('lowers one huge weight to exactly the bound, the others keep their proportions', () => {
    const weights = [100, 100, 100, 100, 2 ** 53 - 1];
    const c = weightCeiling(weights, 0.4)!;
    expect(c).toBeCloseTo(800 / 3, 9);
    expect(Math.max(...shares(weights, c))).toBeCloseTo(0.4, 12);
  });

  it('finds the largest ceiling that holds for any weights (checked against the definition)', () => {
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(next() * 12);
      const weights = Array.from({ length: n }, () => 1 + Math.floor(next() ** 4 * 10_000));
      const share = Math.min(1, (1 + next() * 3) / n);
      const c = weightCeiling(weights, share);
      const s = shares(weights, c);
      expect(Math.max(...s)).toBeLessThanOrEqual(share + 1e-9);
      if (c === null) continue;
      // Any higher ceiling breaks the bound, so nobody was lowered more than needed.
      expect(Math.max(...shares(weights, c * (1 + 1e-6)))).toBeGreaterThan(share);
      expect(c).toBeLessThan(Math.max(...weights));
    }
  });

  it('with factor 1 makes every weight equal to the smallest', () => {
    expect(weightCeiling([3, 1, 2], maxWeightShare(1, 3))).toBeCloseTo(1, 12);
  });

  it('refuses a bound no weights can meet and weights that are not positive', () => {
    expect(() => weightCeiling([1, 1, 1], 0.2)).toThrow(AggregationError);
    expect(() => weightCeiling([1, 0, 1], 0.5)).toThrow(AggregationError);
    expect(() => weightCeiling([1, Number.NaN, 1], 0.5)).toThrow(AggregationError);
  });
});
