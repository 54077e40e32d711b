import { describe, expect, it } from 'vitest';
import { RdpAccountant } from '../dp/accountant.ts';
import { roundConditionally, roundingNormBound } from './conditional-rounding.ts';
import { checkDdgBits, decodeDdgSum, ddgPrivacyEvent, encodeDdg, planDdg, sumCoordinateStddev } from './ddg.ts';
import { SecAggError } from './secagg-error.ts';

const round = { rotationSeed: new Uint8Array(32).fill(3), roundId: 'round-ddg' };

function randomUpdate(d: number, scale: number, salt: number): Float32Array {
  return Float32Array.from({ length: d }, (_, i) => Math.sin((i + 1) * (salt + 0.618)) * scale);
}

/** What SecAgg returns: the sum mod 2^32 of every device's words. */
function sumMod32(inputs: Uint32Array[]): Uint32Array {
  const out = new Uint32Array(inputs[0].length);
  for (const v of inputs) for (let i = 0; i < v.length; i++) out[i] = (out[i] + v[i]) >>> 0;
  return out;
}

function l2(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

describe('distributed discrete Gaussian encode / decode', () => {
  it('without noise, the decoded sum of 10 devices is the float sum of the clipped updates within the rounding bound', async () => {
    const d = 3000;
    const plan = planDdg({ dimension: d, clipNorm: 1, noiseMultiplier: 0, bits: 20, maxDevices: 10, minSurvivors: 8 });
    const updates = Array.from({ length: 10 }, (_, k) => randomUpdate(d, k === 4 ? 0.2 : 0.01, k)); // device 4 is clipped
    const clipped = updates.map((u) => {
      const n = l2(u);
      return n > 1 ? u.map((v) => v / n) : u;
    });
    const inputs = await Promise.all(updates.map((u) => encodeDdg(u, plan, round)));
    const decoded = await decodeDdgSum(sumMod32(inputs), plan, round);
    const expected = new Float64Array(d);
    for (const u of clipped) for (let i = 0; i < d; i++) expected[i] += u[i];
    const error = l2(decoded.map((v, i) => v - expected[i]));
    // Each device's rounding moves it by at most granularity * min(sqrt(d'), l2Sensitivity + scaledClipNorm).
    const perDevice =
      plan.granularity * Math.min(Math.sqrt(plan.paddedDimension), plan.l2Sensitivity + plan.scaledClipNorm);
    expect(error).toBeLessThanOrEqual(10 * perDevice + 1e-4);
    // And it is far from trivial: unbiased rounding errors add like sqrt(n), well under the signal.
    expect(error).toBeLessThan(0.1 * l2(expected));
  });

  it("with noise, the others' noise (minSurvivors - 1 devices) has stddev noiseMultiplier x sensitivity", async () => {
    const d = 1024;
    const plan = planDdg({ dimension: d, clipNorm: 1, noiseMultiplier: 1, bits: 24, maxDevices: 20, minSurvivors: 16 });
    expect(plan.deviceNoiseVariance).toBeCloseTo(plan.l2Sensitivity ** 2 / 15, 9);
    const zero = new Float32Array(d);
    const inputs = await Promise.all(Array.from({ length: 15 }, () => encodeDdg(zero, plan, round)));
    const decoded = await decodeDdgSum(sumMod32(inputs), plan, round);
    const sampleStd = l2(decoded) / Math.sqrt(d);
    // Target: noiseMultiplier * l2Sensitivity * granularity from 15 devices (+ the rounding of 0, which is 0).
    const target = plan.l2Sensitivity * plan.granularity;
    expect(Math.abs(sampleStd - target) / target).toBeLessThan(5 / Math.sqrt(2 * d));
  });

  it('chooses the finest granularity whose sum fits the bits (4 stddevs), and the accountant charges it', () => {
    const plan = planDdg({
      dimension: 199_210,
      clipNorm: 1,
      noiseMultiplier: 1,
      bits: 20,
      maxDevices: 1000,
      minSurvivors: 80,
    });
    expect(plan.paddedDimension).toBe(262_144);
    expect(4 * sumCoordinateStddev(plan)).toBeLessThanOrEqual(2 ** 19);
    expect(
      4 *
        sumCoordinateStddev({
          ...plan,
          ...planDdg({
            dimension: 199_210,
            clipNorm: 1,
            noiseMultiplier: 1,
            bits: 20,
            maxDevices: 1000,
            minSurvivors: 80,
            granularity: plan.granularity * 0.9,
          }),
        }),
    ).toBeGreaterThan(2 ** 19);
    const epsilon = new RdpAccountant().compose(ddgPrivacyEvent(plan), 100).getEpsilon(1e-5);
    const central = new RdpAccountant().compose({ kind: 'gaussian', noiseMultiplier: 1 }, 100).getEpsilon(1e-5);
    expect(epsilon).toBeGreaterThanOrEqual(central * (1 - 1e-12)); // tau ~ 0 at sigma ~ 1,600: the Gaussian, to rounding
    expect(epsilon).toBeLessThan(central * 1.01);
  });

  it('refuses a bit width whose sum over maxDevices could overflow 32 bits', () => {
    expect(() => checkDdgBits(22, 1000)).not.toThrow(); // 1000 * 2^21 < 2^31
    expect(() => checkDdgBits(23, 1000)).toThrow(SecAggError);
    expect(() => checkDdgBits(21, 1024)).not.toThrow();
    expect(() => checkDdgBits(22, 1024)).toThrow(/use bits <= 21/); // 1024 * 2^21 = 2^31
    expect(() =>
      planDdg({ dimension: 10, clipNorm: 1, noiseMultiplier: 1, bits: 16, maxDevices: 100_000, minSurvivors: 10 }),
    ).toThrow(/overflow/);
  });

  it('conditional rounding keeps the norm bound and is unbiased', () => {
    const x = Float64Array.from({ length: 256 }, (_, i) => (i % 5) * 0.3 + 0.25);
    const bound = roundingNormBound(l2(x), 256);
    const mean = new Float64Array(256);
    for (let t = 0; t < 400; t++) {
      const r = roundConditionally(x, bound);
      expect(l2(r)).toBeLessThanOrEqual(bound);
      for (let i = 0; i < 256; i++) mean[i] += r[i] / 400;
    }
    // Each coordinate's mean is within 5 standard errors (<= 0.5 / 20) of x.
    for (let i = 0; i < 256; i++) expect(Math.abs(mean[i] - x[i])).toBeLessThan(0.125);
  });
});
