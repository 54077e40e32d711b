import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { channelCount, dequantizeInt8, int8Params, quantizeInt8 } from './int8.ts';

function roundTrip(data: Float32Array, channels: number) {
  const params = int8Params(data, channels);
  const q = new Int8Array(data.length);
  quantizeInt8(data, params, q);
  const back = new Float32Array(data.length);
  dequantizeInt8(q, params, back);
  return { params, back };
}

/** A tensor as rows x channels with finite float32 values of mixed magnitudes. */
const tensorArb = fc
  .record({
    rows: fc.integer({ min: 1, max: 12 }),
    channels: fc.integer({ min: 1, max: 6 }),
    magnitude: fc.constantFrom(1e-30, 1e-3, 1, 1e3, 1e30, 3e38),
  })
  .chain(({ rows, channels, magnitude }) =>
    fc
      .array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: rows * channels, maxLength: rows * channels })
      .map((xs) => ({ channels, data: new Float32Array(xs.map((x) => x * magnitude)) })),
  );

describe('int8 per-channel quantization', () => {
  it('keeps every element within scale/2 of the original (plus float32 rounding)', () => {
    fc.assert(
      fc.property(tensorArb, ({ channels, data }) => {
        const { params, back } = roundTrip(data, channels);
        for (let i = 0; i < data.length; i++) {
          const scale = params.scales[i % channels];
          const bound = scale / 2 + Math.abs(data[i]) * 2 ** -22 + 2 ** -149;
          expect(Math.abs(data[i] - back[i])).toBeLessThanOrEqual(bound);
          expect(Number.isFinite(back[i])).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps zeros exact and handles all-zero and constant channels', () => {
    const data = new Float32Array([0, 5, 0, 5, 0, 5, -3, 5]);
    const { params, back } = roundTrip(data, 2);
    expect(params.scales[0]).toBeGreaterThan(0);
    expect(back[0]).toBe(0);
    expect(back[2]).toBe(0);
    expect(Math.abs(back[1] - 5)).toBeLessThanOrEqual(params.scales[1] / 2);
    const zeros = roundTrip(new Float32Array(4), 1);
    expect(zeros.params.scales[0]).toBe(0);
    expect(Array.from(zeros.back)).toEqual([0, 0, 0, 0]);
  });

  it('uses one scale per output channel, so a large channel does not blur a small one', () => {
    // Column 0 is tiny, column 1 huge: a per-tensor scale would zero out column 0.
    const data = new Float32Array([0.001, 1000, -0.002, -500, 0.0005, 250]);
    const { back } = roundTrip(data, 2);
    for (const i of [0, 2, 4]) expect(Math.abs(back[i] - data[i])).toBeLessThan(1e-5);
  });

  it('takes the channel count from the last axis, one channel for rank <= 1', () => {
    expect(channelCount([784, 10])).toBe(10);
    expect(channelCount([3, 3, 1, 32])).toBe(32);
    expect(channelCount([10])).toBe(1);
    expect(channelCount([])).toBe(1);
  });

  it('gives the same floats on the word paths as element by element, aligned or not', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 3, 4, 8, 12),
        fc.integer({ min: 16, max: 80 }),
        fc.nat(3),
        fc.integer(),
        (channels, rows, shift, seed) => {
          const n = channels * rows;
          const buffer = new Int8Array(n + 4);
          for (let i = 0; i < buffer.length; i++) buffer[i] = (Math.imul(seed ^ i, 2654435761) >>> 24) - 128;
          const q = buffer.subarray(shift, shift + n);
          const scales = Float32Array.from({ length: channels }, (_, c) => 0.001 * (c + 1));
          const zeroPoints = Int8Array.from({ length: channels }, (_, c) => ((seed + c) % 256) - 128);
          const out = new Float32Array(n);
          dequantizeInt8(q, { scales, zeroPoints }, out);
          for (let i = 0; i < n; i++) {
            const c = i % channels;
            expect(out[i]).toBe(Math.fround((q[i] - zeroPoints[c]) * scales[c]));
          }
        },
      ),
    );
  });
});
