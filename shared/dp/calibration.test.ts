import { describe, expect, it } from 'vitest';
import { computeEpsilon } from './accountant.ts';
import { calibrateNoiseMultiplier } from './calibration.ts';
import { DpParameterError } from './parameter-error.ts';

describe('calibrateNoiseMultiplier', () => {
  const cases = [
    { samplingRate: 0.01, steps: 1000, delta: 1e-5, targetEpsilon: 2 },
    { samplingRate: 256 / 60000, steps: 14063, delta: 1e-5, targetEpsilon: 3 },
    { samplingRate: 1, steps: 50, delta: 1e-6, targetEpsilon: 8 },
    { samplingRate: 0.1, steps: 10, delta: 1e-3, targetEpsilon: 40 },
  ];

  it.each(cases)('meets the target and is minimal to the tolerance: %o', (c) => {
    const tolerance = 1e-4;
    const z = calibrateNoiseMultiplier({ ...c, tolerance });
    const epsilonAt = (noiseMultiplier: number): number => computeEpsilon({ ...c, noiseMultiplier }).epsilon;
    expect(epsilonAt(z)).toBeLessThanOrEqual(c.targetEpsilon);
    expect(epsilonAt(z * (1 - tolerance))).toBeGreaterThan(c.targetEpsilon);
  });

  it('needs more noise for a tighter budget', () => {
    const base = { samplingRate: 0.01, steps: 1000, delta: 1e-5 };
    expect(calibrateNoiseMultiplier({ ...base, targetEpsilon: 1 })).toBeGreaterThan(
      calibrateNoiseMultiplier({ ...base, targetEpsilon: 4 }),
    );
  });

  it('rejects bad parameters, naming them', () => {
    const base = { samplingRate: 0.01, steps: 1000, delta: 1e-5, targetEpsilon: 1 };
    for (const [patch, parameter] of [
      [{ targetEpsilon: 0 }, 'targetEpsilon'],
      [{ samplingRate: 2 }, 'samplingRate'],
      [{ delta: 1.5 }, 'delta'],
      [{ steps: 0 }, 'steps'],
      [{ tolerance: 1 }, 'tolerance'],
    ] as const) {
      expect(() => calibrateNoiseMultiplier({ ...base, ...patch })).toThrow(DpParameterError);
      try {
        calibrateNoiseMultiplier({ ...base, ...patch });
      } catch (error) {
        expect((error as DpParameterError).parameter).toBe(parameter);
      }
    }
  });
});
