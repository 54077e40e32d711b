import { describe, expect, it } from 'vitest';
import { logAdd, logBinomial, logErfc, logSub, normalCdf } from './special-functions.ts';

// log(erfc(x)) from mpmath 1.3.0 at 40 digits: mpmath.log(mpmath.erfc(x)).
const LOG_ERFC: Array<[number, number]> = [
  [-5, 0.69314718055917657952],
  [-2, 0.69080557364658765676],
  [-0.7, 0.51748412297910574694],
  [0.3, -0.3984300514400852726],
  [1, -1.8496055099332482486],
  [1.999, -5.3605240275450167808],
  [2, -5.3649412646166375745],
  [4, -17.987778312103006503],
  [30, -903.97411711064387808],
  [1e4, -100000009.7827053199],
];

describe('special functions', () => {
  it.each(LOG_ERFC)('logErfc(%s) to 1e-12 relative', (x, want) => {
    expect(Math.abs(logErfc(x) - want) / Math.abs(want)).toBeLessThan(1e-12);
  });

  it('normalCdf hits textbook values', () => {
    expect(normalCdf(0)).toBe(0.5);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 14);
    expect(normalCdf(-1)).toBeCloseTo(0.15865525393145707, 14);
  });

  it('log-space arithmetic and binomials', () => {
    expect(logAdd(Math.log(2), Math.log(3))).toBeCloseTo(Math.log(5), 14);
    expect(logAdd(-Infinity, 1)).toBe(1);
    expect(logSub(Math.log(5), Math.log(3))).toBeCloseTo(Math.log(2), 14);
    expect(logSub(1, 1)).toBe(-Infinity);
    expect(Math.exp(logBinomial(10, 3))).toBeCloseTo(120, 9);
  });
});
