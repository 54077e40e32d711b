import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { clipByGlobalNorm, clipByGlobalNormInPlace, globalL2Norm } from './clip.ts';
import { DpParameterError } from './parameter-error.ts';

describe('globalL2Norm', () => {
  it('is the norm of all tensors as one vector', () => {
    expect(globalL2Norm([new Float32Array([3]), new Float32Array([4])])).toBe(5);
    expect(globalL2Norm([])).toBe(0);
  });

  it('accumulates in float64: 1M small values keep their digits', () => {
    const t = new Float32Array(1_000_000).fill(0.001);
    expect(globalL2Norm([t])).toBeCloseTo(Math.sqrt(1_000_000 * Math.fround(0.001) ** 2), 9);
  });
});

describe('clipByGlobalNorm', () => {
  it('scales an update above clipNorm down to (just under) clipNorm and reports the pre-clip norm', () => {
    const input = [new Float32Array([3, 0]), new Float32Array([4])];
    const { tensors, preClipNorm, scale } = clipByGlobalNorm(input, 1);
    expect(preClipNorm).toBe(5);
    expect(scale).toBeCloseTo(0.2, 6);
    expect(tensors[0][0]).toBeCloseTo(0.6, 6);
    expect(tensors[1][0]).toBeCloseTo(0.8, 6);
    expect(input[0][0]).toBe(3); // inputs untouched
  });

  it('leaves an update within clipNorm unchanged (scale 1)', () => {
    const { tensors, scale } = clipByGlobalNorm([new Float32Array([0.3, 0.4])], 1);
    expect(scale).toBe(1);
    expect(Array.from(tensors[0])).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });

  it('never exceeds clipNorm after float32 rounding (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.float32Array({ minLength: 1, maxLength: 50, noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
          { minLength: 1, maxLength: 4 },
        ),
        fc.double({ min: 1e-3, max: 10, noNaN: true }),
        (tensors, clipNorm) => {
          const { tensors: clipped, preClipNorm } = clipByGlobalNorm(tensors, clipNorm);
          const after = globalL2Norm(clipped);
          expect(after).toBeLessThanOrEqual(clipNorm);
          if (preClipNorm > clipNorm) expect(after).toBeGreaterThan(clipNorm * (1 - 1e-5));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('in place: modifies the given arrays the same way', () => {
    const update = [new Float32Array([30, 40])];
    const { preClipNorm, scale } = clipByGlobalNormInPlace(update, 5);
    expect(preClipNorm).toBe(50);
    expect(update[0][0]).toBeCloseTo(30 * scale, 5);
    expect(globalL2Norm(update)).toBeLessThanOrEqual(5);
  });

  it('rejects a non-positive clipNorm and non-finite tensors', () => {
    expect(() => clipByGlobalNorm([new Float32Array([1])], 0)).toThrow(DpParameterError);
    expect(() => clipByGlobalNormInPlace([new Float32Array([Number.NaN])], 1)).toThrow(/NaN or Infinity/);
  });
});
