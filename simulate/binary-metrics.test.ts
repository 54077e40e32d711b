import { describe, expect, it } from 'vitest';
import { binaryMetrics, rocAuc } from './binary-metrics.ts';

describe('binaryMetrics', () => {
  it('counts precision, recall and F1 of the positive class at the threshold', () => {
    const m = binaryMetrics(Float32Array.of(0.9, 0.8, 0.3, 0.6, 0.1), Uint8Array.of(1, 1, 1, 0, 0));
    expect(m.precision).toBeCloseTo(2 / 3);
    expect(m.recall).toBeCloseTo(2 / 3);
    expect(m.f1).toBeCloseTo(2 / 3);
    expect(m.accuracy).toBeCloseTo(3 / 5);
  });

  it('is the Mann-Whitney probability, ties counted half', () => {
    // Positives 0.9, 0.5; negatives 0.5, 0.1: pairs (0.9>0.5, 0.9>0.1, 0.5=0.5 half, 0.5>0.1) = 3.5 / 4.
    expect(rocAuc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])).toBeCloseTo(3.5 / 4);
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])).toBe(0);
    expect(rocAuc([0.3, 0.4], [1, 1])).toBe(0.5);
  });

  it('refuses scores and labels of different lengths', () => {
    expect(() => binaryMetrics([0.1], [1, 0])).toThrow(RangeError);
  });
});
