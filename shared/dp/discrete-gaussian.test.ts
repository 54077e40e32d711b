import { describe, expect, it } from 'vitest';
import { addDiscreteGaussianNoise, discreteGaussianNoise } from './discrete-gaussian.ts';
import { DpParameterError } from './parameter-error.ts';

function moments(x: Int32Array): { mean: number; variance: number } {
  let sum = 0;
  for (const v of x) sum += v;
  const mean = sum / x.length;
  let sq = 0;
  for (const v of x) sq += (v - mean) ** 2;
  return { mean, variance: sq / (x.length - 1) };
}

/** The exact pmf of N_Z(0, s2) at x, normalised over |x| <= 200. */
function pmf(s2: number, x: number): number {
  let z = 0;
  for (let k = -200; k <= 200; k++) z += Math.exp((-k * k) / (2 * s2));
  return Math.exp((-x * x) / (2 * s2)) / z;
}

describe('discreteGaussianNoise (Canonne-Kamath-Steinke exact sampler)', () => {
  it('has mean 0 and variance sigma^2 within 5 standard errors (sigma^2 = 25, n = 100k)', () => {
    const n = 100_000;
    const x = discreteGaussianNoise(n, 25);
    const { mean, variance } = moments(x);
    // SE(mean) = 5 / sqrt(n) = 0.0158; SE(variance) ~ 25 sqrt(2 / n) = 0.112.
    expect(Math.abs(mean)).toBeLessThan(5 * 0.0158);
    expect(Math.abs(variance - 25)).toBeLessThan(5 * 0.112);
    for (const v of x) expect(Number.isInteger(v)).toBe(true);
  });

  it('matches the exact pmf at 0, 1 and 2 for sigma^2 = 1 (where the discrete variance is below sigma^2)', () => {
    const n = 60_000;
    const x = discreteGaussianNoise(n, 1);
    for (const k of [0, 1, 2]) {
      const p = pmf(1, k) * (k === 0 ? 1 : 2);
      const observed = x.filter((v) => Math.abs(v) === k).length / n;
      expect(Math.abs(observed - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
    }
    // The discrete Gaussian's variance at sigma^2 = 1 is 0.99999..., not smaller than sigma^2 - 1e-3.
    let exact = 0;
    for (let k = -50; k <= 50; k++) exact += k * k * pmf(1, k);
    expect(Math.abs(moments(x).variance - exact)).toBeLessThan(5 * Math.sqrt(2 / n));
  });

  it('is centred on the value it is added to, and variance 0 adds nothing', () => {
    const target = new Float64Array(20_000).fill(1000);
    addDiscreteGaussianNoise(target, 4);
    const m = target.reduce((a, b) => a + b, 0) / target.length;
    expect(Math.abs(m - 1000)).toBeLessThan(5 * (2 / Math.sqrt(target.length)));
    expect(Array.from(discreteGaussianNoise(5, 0))).toEqual([0, 0, 0, 0, 0]);
  });

  it('refuses a negative or non-finite variance', () => {
    expect(() => discreteGaussianNoise(3, -1)).toThrow(DpParameterError);
    expect(() => discreteGaussianNoise(3, Number.NaN)).toThrow(/noiseVariance/);
  });
});
