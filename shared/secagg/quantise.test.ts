import { describe, expect, it } from 'vitest';
import { checkQuantisation, dequantiseSum, quantisationLevels, quantise } from './quantise.ts';
import { SecAggError } from './secagg-error.ts';

describe('checkQuantisation', () => {
  it('accepts the largest bit width whose n-device sum cannot wrap, refuses the next', () => {
    expect(() => checkQuantisation({ clipRange: 1, bits: 22, maxDevices: 1000 })).not.toThrow(); // 1000 * 2^21 < 2^31
    expect(() => checkQuantisation({ clipRange: 1, bits: 23, maxDevices: 1000 })).toThrow(/could overflow/);
    expect(() => checkQuantisation({ clipRange: 1, bits: 21, maxDevices: 1024 })).not.toThrow(); // 2^10 * 2^20 = 2^30
    expect(() => checkQuantisation({ clipRange: 1, bits: 22, maxDevices: 1024 })).toThrow(SecAggError); // 2^31, not < 2^31
  });

  it('names the largest safe bit width when it refuses', () => {
    try {
      checkQuantisation({ clipRange: 1, bits: 24, maxDevices: 1000 });
      expect.unreachable();
    } catch (error) {
      expect((error as SecAggError).code).toBe('bad-parameters');
      expect((error as SecAggError).details.largestSafeBits).toBe(22);
    }
  });

  it('refuses nonsense', () => {
    for (const bad of [
      { clipRange: 0, bits: 8, maxDevices: 10 },
      { clipRange: Number.NaN, bits: 8, maxDevices: 10 },
      { clipRange: 1, bits: 1, maxDevices: 10 },
      { clipRange: 1, bits: 32, maxDevices: 1 },
      { clipRange: 1, bits: 8.5, maxDevices: 10 },
      { clipRange: 1, bits: 8, maxDevices: 0 },
    ]) {
      expect(() => checkQuantisation(bad)).toThrow(SecAggError);
    }
  });
});

describe('quantise / dequantiseSum', () => {
  const q = { clipRange: 0.5, bits: 16, maxDevices: 100 };
  const unit = 0.5 / quantisationLevels(q);

  it("clips, rounds to within half a level, and reads negatives back through two's complement", () => {
    const values = new Float32Array([0, 0.1, -0.1, 0.5, -0.5, 3, -3, 1e-7]);
    const back = dequantiseSum(quantise(values, q), q);
    const clipped = [0, 0.1, -0.1, 0.5, -0.5, 0.5, -0.5, 1e-7];
    for (let i = 0; i < values.length; i++) expect(Math.abs(back[i] - clipped[i])).toBeLessThanOrEqual(unit / 2 + 1e-9);
    expect(quantise(new Float32Array([-0.5]), q)[0]).toBe(2 ** 32 - quantisationLevels(q));
  });

  it('sums 100 devices at full scale, both signs, without wrapping', () => {
    const sum = new Uint32Array(2);
    for (let d = 0; d < 100; d++) {
      const v = quantise(new Float32Array([0.5, -0.5]), q);
      for (let i = 0; i < 2; i++) sum[i] += v[i];
    }
    const back = dequantiseSum(sum, q);
    expect(back[0]).toBeCloseTo(50, 4);
    expect(back[1]).toBeCloseTo(-50, 4);
  });

  it('refuses NaN and infinite values', () => {
    expect(() => quantise(new Float32Array([0, Number.NaN]), q)).toThrow(/value 1 is not finite/);
    expect(() => quantise([Number.POSITIVE_INFINITY], q)).toThrow(SecAggError);
  });
});
