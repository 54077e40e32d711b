import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeFp16, encodeFp16, floatBits, halfBitsFromFloatBits, halfTable } from './fp16.ts';
import { CodecError } from './codec-error.ts';

/** All finite halves, ascending by value, to find a float's true nearest neighbours. */
const finiteHalves: number[] = (() => {
  const t = halfTable();
  const values: number[] = [];
  for (let h = 0; h < 0x7c00; h++) values.push(t[h]);
  return values; // non-negative halves, increasing with h
})();

/** Nearest non-negative half by exhaustive search, ties to the even bit pattern. */
function nearestHalfBits(x: number): number {
  const a = Math.abs(x);
  let best = 0;
  for (let h = 1; h < finiteHalves.length; h++) {
    const d = Math.abs(finiteHalves[h] - a);
    const bd = Math.abs(finiteHalves[best] - a);
    if (d < bd || (d === bd && (h & 1) === 0)) best = h;
  }
  return (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | best;
}

describe('fp16', () => {
  it('decodes known bit patterns exactly', () => {
    const out = new Float32Array(6);
    decodeFp16(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00]), out);
    expect(Array.from(out)).toEqual([1, -2, 65504, 2 ** -24, 2 ** -14, Infinity]);
  });

  it('round-trips every finite half exactly', () => {
    const t = halfTable();
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) !== 0x7c00 && halfBitsFromFloatBits(floatBits(t[h])) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to the nearest half, ties to even, including subnormals', () => {
    fc.assert(
      fc.property(fc.float({ min: -65519, max: 65519, noNaN: true }), (x) => {
        expect(halfBitsFromFloatBits(floatBits(x))).toBe(nearestHalfBits(x));
      }),
      { numRuns: 300 },
    );
    // Exact midpoints between neighbouring halves go to the even pattern.
    const t = halfTable();
    for (const h of [0x0000, 0x0001, 0x0002, 0x03ff, 0x3c00, 0x3c01, 0x7bfe]) {
      const mid = (t[h] + t[h + 1]) / 2;
      expect(halfBitsFromFloatBits(floatBits(mid))).toBe(h % 2 === 0 ? h : h + 1);
    }
  });

  it('rejects finite values that would overflow, keeps infinities and NaN', () => {
    expect(halfBitsFromFloatBits(floatBits(65519))).toBe(0x7bff);
    expect(halfBitsFromFloatBits(floatBits(65520))).toBe(-1);
    expect(halfBitsFromFloatBits(floatBits(-Infinity))).toBe(0xfc00);
    expect(halfBitsFromFloatBits(floatBits(Number.NaN)) & 0x7e00).toBe(0x7e00);
    const err = (() => {
      try {
        encodeFp16(new Float32Array([1, 1e6]), new Uint16Array(2), 'w');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(CodecError);
    expect((err as CodecError).code).toBe('bad_input');
  });
});
