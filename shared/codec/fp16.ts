/**
 * IEEE 754 binary16 conversion for the `fp16` encoding.
 *
 * float32 -> half rounds to nearest, ties to even, and keeps subnormals (down to
 * 2^-24). A *finite* input whose magnitude rounds past 65504 (that is, >= 65520)
 * is rejected rather than turned into Infinity: silently sending Inf in a model
 * update would poison a whole aggregation round, and the caller can pick fp32 or
 * scale instead. ±Infinity and NaN inputs map to half ±Infinity / NaN (the
 * decoder then rejects them unless non-finite values are allowed).
 *
 * half -> float32 is exact and uses a 65,536-entry lookup table built on first use.
 */
import { CodecError } from './codec-error.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Bits of the smallest float32 magnitude that rounds to half Infinity (65520). */
const HALF_OVERFLOW_BITS = 0x477ff000;

/**
 * Converts float32 bits (as an unsigned int) to half bits, round-to-nearest-even.
 * Returns -1 for a finite value that would overflow to Infinity.
 */
export function halfBitsFromFloatBits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const abs = f & 0x7fffffff;
  if (abs >= 0x7f800000) return abs === 0x7f800000 ? sign | 0x7c00 : sign | 0x7e00;
  if (abs >= HALF_OVERFLOW_BITS) return -1;
  if (abs < 0x38800000) {
    // Result is a half subnormal (or zero): shift the full significand into place.
    if (abs < 0x33000000) return sign; // below 2^-25: rounds to zero (2^-25 itself ties to even 0)
    const exp = abs >>> 23;
    const full = 0x800000 | (abs & 0x7fffff);
    const shift = 126 - exp; // 14..24 bits dropped
    const kept = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    const up = rest > half || (rest === half && (kept & 1) === 1);
    return sign | (kept + (up ? 1 : 0)); // a carry into bit 10 correctly yields the smallest normal
  }
  const hexp = ((abs >>> 23) - 112) << 10;
  const mant = abs & 0x7fffff;
  const kept = mant >>> 13;
  const rest = mant & 0x1fff;
  const up = rest > 0x1000 || (rest === 0x1000 && (kept & 1) === 1);
  return sign | (hexp + kept + (up ? 1 : 0)); // a mantissa carry rolls into the exponent, as it should
}

/**
 * Writes `src` as half floats into `dst` (same length).
 *
 * @example
 * const h = new Uint16Array(3); encodeFp16(new Float32Array([1, 0.5, -2]), h);
 */
export function encodeFp16(src: Float32Array, dst: Uint16Array, tensorName = ''): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const h = halfBitsFromFloatBits(bits[i]);
    if (h < 0) {
      throw new CodecError(
        'bad_input',
        `tensor "${tensorName}" holds ${src[i]} at index ${i}, beyond the fp16 range (|x| < 65520); encode it as fp32`,
        {
          tensor: tensorName,
          index: i,
        },
      );
    }
    dst[i] = h;
  }
}

let table: Float32Array | undefined;

/** Exact float value of every half bit pattern. */
export function halfTable(): Float32Array {
  if (table) return table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 31) t[h] = mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  table = t;
  return t;
}

/**
 * Decodes half bits into float32 values.
 *
 * @example
 * const out = new Float32Array(2); decodeFp16(new Uint16Array([0x3c00, 0xc000]), out); // [1, -2]
 */
export function decodeFp16(src: Uint16Array, dst: Float32Array): void {
  const t = halfTable();
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]];
}

/** Float32 bits of `x` (used by tests and the encoder's scalar paths). */
export function floatBits(x: number): number {
  f32[0] = x;
  return u32[0];
}
