/**
 * Statistical tests of the Gaussian sampler. Bounds are set for a false-alarm
 * rate around 1e-6 (mean, variance) and 1e-3 (KS); each test also shows that
 * the same check rejects a sampler with the wrong scale (variance passed as a
 * standard deviation, the DISCO bug), so the checks have teeth.
 */
import { describe, expect, it } from 'vitest';
import { addGaussianNoise, gaussianNoise } from './noise.ts';
import { DpParameterError } from './parameter-error.ts';
import { normalCdf } from './special-functions.ts';

const N = 200_000;
const STDDEV = 2.5;

function meanOf(xs: Float32Array): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

function varianceOf(xs: Float32Array): number {
  const m = meanOf(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return s / (xs.length - 1);
}

/** Kolmogorov-Smirnov statistic of the samples against N(0, stddev^2). */
function ksStatistic(xs: Float32Array, stddev: number): number {
  const sorted = Float64Array.from(xs).sort();
  let d = 0;
  for (let i = 0; i < sorted.length; i++) {
    const f = normalCdf(sorted[i] / stddev);
    d = Math.max(d, (i + 1) / sorted.length - f, f - i / sorted.length);
  }
  return d;
}

/** Asymptotic KS critical value at significance alpha: sqrt(-ln(alpha/2)/2) / sqrt(n). */
const ksCritical = (n: number, alpha: number): number => Math.sqrt(-Math.log(alpha / 2) / 2) / Math.sqrt(n);

/** (n-1) s^2 / sigma^2 ~ chi2(n-1), ~ normal with sd sqrt(2(n-1)): accept within 5 sd. */
function varianceWithinChiSquareBounds(xs: Float32Array, stddev: number): boolean {
  const n = xs.length;
  const statistic = ((n - 1) * varianceOf(xs)) / (stddev * stddev);
  return Math.abs(statistic - (n - 1)) < 5 * Math.sqrt(2 * (n - 1));
}

describe('gaussianNoise', () => {
  const samples = gaussianNoise(N, STDDEV);

  it('has mean 0 (within 5 standard errors)', () => {
    expect(Math.abs(meanOf(samples))).toBeLessThan((5 * STDDEV) / Math.sqrt(N));
    const shifted = samples.map((x) => x + 0.1);
    expect(Math.abs(meanOf(shifted))).toBeGreaterThan((5 * STDDEV) / Math.sqrt(N));
  });

  it('has variance noiseStddev^2 (chi-square bound), and a variance-as-stddev sampler fails it', () => {
    expect(varianceWithinChiSquareBounds(samples, STDDEV)).toBe(true);
    const wrong = gaussianNoise(N, STDDEV * STDDEV);
    expect(varianceWithinChiSquareBounds(wrong, STDDEV)).toBe(false);
  });

  it('passes a Kolmogorov-Smirnov test against the normal CDF at alpha = 0.001; the wrong scale fails', () => {
    expect(ksStatistic(samples, STDDEV)).toBeLessThan(ksCritical(N, 1e-3));
    expect(ksStatistic(samples, STDDEV * STDDEV)).toBeGreaterThan(ksCritical(N, 1e-3));
    expect(ksStatistic(samples, STDDEV * 1.02)).toBeGreaterThan(ksCritical(N, 1e-3));
  });

  it('fills odd lengths, gives zeros for zero noise, and differs between calls', () => {
    const odd = gaussianNoise(3, 1);
    expect(odd).toHaveLength(3);
    expect(odd[2]).not.toBe(0);
    expect(Array.from(gaussianNoise(4, 0))).toEqual([0, 0, 0, 0]);
    expect(Array.from(gaussianNoise(8, 1))).not.toEqual(Array.from(gaussianNoise(8, 1)));
  });

  it('rejects a negative or non-finite stddev and a bad length', () => {
    expect(() => gaussianNoise(10, -1)).toThrow(DpParameterError);
    expect(() => gaussianNoise(10, Number.NaN)).toThrow(DpParameterError);
    expect(() => gaussianNoise(1.5, 1)).toThrow(DpParameterError);
  });
});

describe('addGaussianNoise', () => {
  it('adds noise of the right scale in place', () => {
    const target = new Float32Array(N).fill(10);
    addGaussianNoise(target, STDDEV);
    expect(Math.abs(meanOf(target) - 10)).toBeLessThan((5 * STDDEV) / Math.sqrt(N));
    expect(varianceWithinChiSquareBounds(target, STDDEV)).toBe(true);
  });
});
