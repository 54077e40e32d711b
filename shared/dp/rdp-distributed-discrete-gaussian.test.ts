import { describe, expect, it } from 'vitest';
import { RdpAccountant } from './accountant.ts';
import { epsilonFromRdp } from './conversion.ts';
import { DpParameterError } from './parameter-error.ts';
import { rdpPoissonSubsampledGaussian } from './rdp.ts';
import { ddgTau, rdpDistributedDiscreteGaussian } from './rdp-distributed-discrete-gaussian.ts';

describe('RDP of the distributed discrete Gaussian (Kairouz, Liu, Steinke 2021, Proposition 14)', () => {
  // By hand: sigma^2 = 1, n = 3: tau = 10 (e^{-2 pi^2 (1/2)} + e^{-2 pi^2 (2/3)}) = 10 (e^{-pi^2} + e^{-4 pi^2 / 3})
  //   = 10 (5.17232e-5 + 1.92711e-6) = 5.36503e-4.
  it('tau for sigma^2 = 1, n = 3 is 10 (e^-pi^2 + e^-(4 pi^2 / 3)) = 5.36503e-4', () => {
    expect(ddgTau(1, 3)).toBeCloseTo(5.365032810126549e-4, 12);
    expect(ddgTau(1, 1)).toBe(0);
  });

  it('alpha = 2, ||Delta||_2 = 2, ||Delta||_1 = 4, d = 4: the first bound, 2 * 4 / 6 + 4 tau = 1.335479', () => {
    const m = { l2Sensitivity: 2, l1Sensitivity: 4, deviceNoiseVariance: 1, devices: 3, dimension: 4 };
    expect(rdpDistributedDiscreteGaussian(m, 2)).toBeCloseTo(1.335479346457384, 10);
  });

  it('d = 10,000: tau d = 5.37 makes the second bound win, 4/3 + 8 tau / sqrt(3) + 10^4 tau^2 = 1.338690', () => {
    const m = { l2Sensitivity: 2, l1Sensitivity: 4, deviceNoiseVariance: 1, devices: 3, dimension: 10_000 };
    expect(rdpDistributedDiscreteGaussian(m, 2)).toBeCloseTo(1.338689693548417, 10);
  });

  it('with one device it is the Gaussian mechanism at noise multiplier sigma / Delta', () => {
    const m = { l2Sensitivity: 3, deviceNoiseVariance: 36, devices: 1, dimension: 1000 };
    for (const order of [1.5, 2, 8, 64]) {
      expect(rdpDistributedDiscreteGaussian(m, order)).toBeCloseTo(rdpPoissonSubsampledGaussian(1, 2, order), 12);
    }
  });

  it('composes in the accountant: 10 rounds give the epsilon of 10x the curve', () => {
    const event = {
      kind: 'distributed-discrete-gaussian',
      l2Sensitivity: 100,
      deviceNoiseVariance: 50 ** 2,
      devices: 20,
      dimension: 2 ** 18,
    } as const;
    const accountant = new RdpAccountant([2, 4, 8, 16, 32]).compose(event, 10);
    const rdp = [2, 4, 8, 16, 32].map((a) => 10 * rdpDistributedDiscreteGaussian(event, a));
    expect(accountant.getEpsilon(1e-5)).toBeCloseTo(epsilonFromRdp([2, 4, 8, 16, 32], rdp, 1e-5).epsilon, 12);
    // Sum stddev 50 sqrt(20) = 223.6 against sensitivity 100: z = 2.236, close to the continuous Gaussian.
    const gaussian = new RdpAccountant([2, 4, 8, 16, 32]).compose(
      { kind: 'gaussian', noiseMultiplier: Math.sqrt(5) },
      10,
    );
    expect(accountant.getEpsilon(1e-5)).toBeGreaterThanOrEqual(gaussian.getEpsilon(1e-5));
    expect(accountant.getEpsilon(1e-5)).toBeLessThan(gaussian.getEpsilon(1e-5) * 1.001);
  });

  it('refuses sigma < 1/2, where Proposition 14 does not hold', () => {
    const event = {
      kind: 'distributed-discrete-gaussian',
      l2Sensitivity: 1,
      deviceNoiseVariance: 0.2,
      devices: 5,
      dimension: 8,
    } as const;
    expect(() => new RdpAccountant().compose(event)).toThrow(DpParameterError);
  });
});
