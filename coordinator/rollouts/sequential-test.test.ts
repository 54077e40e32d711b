import { describe, expect, it } from 'vitest';
import { lnGamma, normalCdf, seededRandom } from '../../shared/stats/index.ts';
import { sampleNormal } from '../../shared/stats/seeded-random.ts';
import {
  logNormalCdf,
  msprtHarm,
  msprtQuantile,
  msprtQuantiles,
  msprtTwoProportions,
  sampleRatioLogBayesFactor,
  sequentialSampleRatio,
} from './sequential-test.ts';

/** The mixture integral of the module doc by brute-force quadrature: the closed form must agree. */
function mixtureByQuadrature(harm: number, variance: number, tau: number): number {
  const s = harm / variance;
  const info = 1 / variance;
  const steps = 200_000;
  const top = 12 * tau;
  let sum = 0;
  for (let i = 0; i < steps; i++) {
    const theta = ((i + 0.5) / steps) * top;
    const prior = (2 / (tau * Math.sqrt(2 * Math.PI))) * Math.exp((-theta * theta) / (2 * tau * tau));
    sum += prior * Math.exp(theta * s - (theta * theta * info) / 2);
  }
  return (sum * top) / steps;
}

describe('mSPRT on a harm estimate', () => {
  it.each([
    [0.03, 1e-4],
    [0.01, 1e-4],
    [-0.02, 4e-4],
    [0.05, 2.5e-5],
  ])('matches the half-normal mixture integral (harm %d, variance %d)', (harm, variance) => {
    const lambda = Math.exp(msprtHarm(harm, variance, 0.02).logLikelihoodRatio);
    expect(lambda / mixtureByQuadrature(harm, variance, 0.02)).toBeCloseTo(1, 4);
  });

  it('ln Phi agrees with the shared normal CDF and stays finite where Phi underflows', () => {
    for (const z of [-8, -3, -1, 0, 0.5, 2, 5]) expect(logNormalCdf(z)).toBeCloseTo(Math.log(normalCdf(z)), 5);
    expect(logNormalCdf(-40)).toBeCloseTo(-800 - Math.log(40) - 0.5 * Math.log(2 * Math.PI), 2);
  });

  it('is harder to satisfy than a fixed-horizon z-test (the price of looking at every step)', () => {
    // z = 3: fixed-horizon one-sided p 0.00135, always-valid p 0.031.
    expect(msprtHarm(0.03, 1e-4, 0.02).pValue).toBeCloseTo(0.0307, 3);
    expect(msprtHarm(-0.03, 1e-4, 0.02).pValue).toBe(1);
    expect(msprtHarm(0.01, 0, 0.02).pValue).toBe(1);
  });

  it('reads a rate direction: lower accuracy and higher error rate are harm', () => {
    const acc = msprtTwoProportions(861, 1000, 9020, 10_000, 'higher-is-better', 0.02);
    expect(acc.harm).toBeCloseTo(0.041, 10);
    expect(acc.pValue).toBeCloseTo(0.0014, 4);
    expect(msprtTwoProportions(139, 1000, 980, 10_000, 'lower-is-better', 0.02).pValue).toBeCloseTo(acc.pValue, 10);
  });

  it('crosses alpha at some look for at most about alpha of equal Gaussian streams, over 2000 looks', () => {
    // Exact Gaussian data, where the bound is exact: the crossing share must sit at or below alpha.
    const alpha = 0.05;
    let crossed = 0;
    const streams = 400;
    for (let k = 0; k < streams; k++) {
      const random = seededRandom(1000 + k);
      let sum = 0;
      for (let n = 1; n <= 2000; n++) {
        sum += sampleNormal(random);
        if (msprtHarm(sum / n, 1 / n, 0.5).pValue < alpha) {
          crossed++;
          break;
        }
      }
    }
    // Binomial(400, 0.05) sd 0.011: 3 sd above alpha. A fixed-horizon z-test re-checked at every look crosses far more often.
    expect(crossed / streams).toBeLessThan(alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / streams));
  });
});

describe('quantile test', () => {
  const lognormal = (random: () => number, n: number, mu: number, sigma: number) =>
    Array.from({ length: n }, () => Math.exp(mu + sigma * sampleNormal(random)));

  it('sees a heavier p95 tail with the same median, and nothing between equal distributions', () => {
    const random = seededRandom(5);
    const control = lognormal(random, 8000, Math.log(20), 0.3);
    const canary = [...lognormal(random, 1800, Math.log(20), 0.3), ...lognormal(random, 200, Math.log(80), 0.2)];
    const p50 = msprtQuantile(canary, control, 0.5, 'lower-is-better', 0.05);
    const p95 = msprtQuantile(canary, control, 0.95, 'lower-is-better', 0.05);
    expect(p95.canaryShareAbove).toBeGreaterThan(0.12);
    expect(p95.controlShareAbove).toBeCloseTo(0.04, 1);
    expect(p95.pValue).toBeLessThan(1e-6);
    expect(p95.canaryValue).toBeGreaterThan(2 * p95.controlValue);
    expect(p50.harm).toBeLessThan(0.1);
    const same = msprtQuantile(lognormal(random, 2000, Math.log(20), 0.3), control, 0.95, 'lower-is-better', 0.05);
    expect(same.pValue).toBeGreaterThan(0.05);
  });

  it('agrees with scoring against a sorted pooled sample by brute force, ties included', () => {
    const random = seededRandom(8);
    const x = Array.from({ length: 301 }, () => Math.floor(random() * 40));
    const y = Array.from({ length: 977 }, () => Math.floor(random() * 38));
    for (const r of msprtQuantiles(x, y, [0.1, 0.5, 0.95], 'lower-is-better', 0.05)) {
      const pooled = [...x, ...y].sort((a, b) => a - b);
      const m = pooled[Math.floor(r.quantile * pooled.length)];
      const share = (v: number[]) => v.reduce((a, s) => a + (s > m ? 1 : s === m ? 0.5 : 0), 0) / v.length;
      expect(r.pooledValue).toBe(m);
      expect(r.canaryShareAbove).toBeCloseTo(share(x), 12);
      expect(r.controlShareAbove).toBeCloseTo(share(y), 12);
      expect(r.pValue).toBe(msprtQuantile(x, y, r.quantile, 'lower-is-better', 0.05).pValue);
    }
  });

  it('counts ties at the pooled quantile as half (histogram bin centres)', () => {
    const r = msprtQuantile([1, 1, 1, 1], [1, 1, 1, 1], 0.5, 'higher-is-better', 0.1);
    expect(r.canaryShareAbove).toBe(0.5);
    expect(r.harm).toBe(0);
    expect(r.pValue).toBe(1);
  });
});

describe('sequential sample-ratio test', () => {
  it('is a martingale under the assigned share: the Bayes factor averages exactly 1 over Binomial(n, p)', () => {
    for (const n of [10, 60, 400]) {
      const p = 0.05;
      let mean = 0;
      for (let k = 0; k <= n; k++) {
        const logChoose = lnGamma(n + 1) - lnGamma(k + 1) - lnGamma(n - k + 1);
        mean += Math.exp(
          logChoose + k * Math.log(p) + (n - k) * Math.log(1 - p) + sampleRatioLogBayesFactor(k, n - k, p),
        );
      }
      expect(mean).toBeCloseTo(1, 6);
    }
  });

  it('flags 12% of devices on a 5% canary and not 5%', () => {
    expect(sequentialSampleRatio(120, 880, 0.05)).toBeLessThan(1e-8);
    expect(sequentialSampleRatio(50, 950, 0.05)).toBe(1);
  });
});
