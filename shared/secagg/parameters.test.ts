import { describe, expect, it } from 'vitest';
import {
  checkSecAggParameters,
  minimumNeighbours,
  planSecAgg,
  recoveryFailureProbability,
  safeThreshold,
} from './parameters.ts';
import { SecAggError } from './secagg-error.ts';

/** P[Binomial(k, 1 - drop) < t] by summing every outcome of k coin flips (k small). */
function bruteForceFailure(k: number, t: number, drop: number): number {
  let p = 0;
  for (let mask = 0; mask < 2 ** k; mask++) {
    let live = 0;
    for (let i = 0; i < k; i++) if (mask & (1 << i)) live++;
    if (live < t) p += (1 - drop) ** live * drop ** (k - live);
  }
  return p;
}

describe('checkSecAggParameters', () => {
  it('accepts t > (k + c) / 2 and refuses t = (k + c) / 2', () => {
    expect(() => checkSecAggParameters(50, { neighbours: 12, threshold: 7, colluders: 0 })).not.toThrow();
    expect(() => checkSecAggParameters(50, { neighbours: 12, threshold: 6, colluders: 0 })).toThrow(/must exceed/);
    expect(() => checkSecAggParameters(50, { neighbours: 12, threshold: 9, colluders: 4 })).not.toThrow();
    expect(() => checkSecAggParameters(50, { neighbours: 12, threshold: 8, colluders: 4 })).toThrow(SecAggError);
  });

  it('refuses odd sparse degrees, degrees beyond the cohort or 255, thresholds beyond k', () => {
    expect(() => checkSecAggParameters(50, { neighbours: 13, threshold: 8, colluders: 0 })).toThrow(/even/);
    expect(() => checkSecAggParameters(10, { neighbours: 9, threshold: 5, colluders: 0 })).not.toThrow(); // complete, odd is fine
    expect(() => checkSecAggParameters(10, { neighbours: 10, threshold: 6, colluders: 0 })).toThrow(/neighbours/);
    expect(() => checkSecAggParameters(1000, { neighbours: 256, threshold: 129, colluders: 0 })).toThrow(/255/);
    expect(() => checkSecAggParameters(50, { neighbours: 12, threshold: 13, colluders: 0 })).toThrow(/threshold/);
    expect(() => checkSecAggParameters(2, { neighbours: 1, threshold: 1, colluders: 0 })).toThrow(/at least 3/);
  });
});

describe('recoveryFailureProbability', () => {
  it('matches a brute-force sum over every dropout pattern', () => {
    for (const [k, t, drop] of [
      [12, 7, 0.1],
      [12, 7, 0.3],
      [8, 5, 0.5],
      [16, 9, 0.05],
    ] as const) {
      expect(recoveryFailureProbability(k, t, drop)).toBeCloseTo(bruteForceFailure(k, t, drop), 12);
    }
  });

  it('is 0 without dropouts and 1 when everyone drops', () => {
    expect(recoveryFailureProbability(12, 7, 0)).toBe(0);
    expect(recoveryFailureProbability(12, 7, 1)).toBe(1);
  });
});

describe('planSecAgg', () => {
  it('picks the sparsest even k meeting the failure target, with a safe threshold', () => {
    const plan = planSecAgg(1000, { dropoutFraction: 0.1 });
    expect(plan.neighbours % 2).toBe(0);
    expect(plan.threshold).toBe(safeThreshold(plan.neighbours, 0));
    expect(1000 * recoveryFailureProbability(plan.neighbours, plan.threshold, 0.1)).toBeLessThanOrEqual(2 ** -20);
    const sparser = plan.neighbours - 2;
    expect(1000 * recoveryFailureProbability(sparser, safeThreshold(sparser, 0), 0.1)).toBeGreaterThan(2 ** -20);
    expect(plan.neighbours).toBeLessThan(100); // far below the complete graph's 999
  });

  it('never goes below 2 ceil(log2 n) neighbours, and is log-like in n', () => {
    expect(minimumNeighbours(50)).toBe(12);
    expect(planSecAgg(50, { dropoutFraction: 0 })).toEqual({ neighbours: 12, threshold: 7, colluders: 0 });
    const k1 = planSecAgg(1_000, { dropoutFraction: 0.1 }).neighbours;
    const k2 = planSecAgg(100_000, { dropoutFraction: 0.1 }).neighbours;
    expect(k2 - k1).toBeLessThan(20);
  });

  it('falls back to the complete graph for small cohorts or heavy dropout', () => {
    expect(planSecAgg(10)).toEqual({ neighbours: 9, threshold: 5, colluders: 0 });
    expect(planSecAgg(50, { dropoutFraction: 0.3 })).toEqual({ neighbours: 49, threshold: 25, colluders: 0 });
  });

  it('raises the threshold with colluders, and refuses a cohort too small for them', () => {
    const plan = planSecAgg(1000, { colluders: 5 });
    expect(2 * plan.threshold).toBeGreaterThan(plan.neighbours + 5);
    expect(() => planSecAgg(5, { colluders: 4 })).toThrow(SecAggError);
  });
});
