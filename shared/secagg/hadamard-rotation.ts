/**
 * The randomised Hadamard rotation of the distributed discrete Gaussian
 * (Kairouz, Liu, Steinke, ICML 2021, Section 4): x -> H D x / sqrt(d), with
 * D a diagonal of random signs and H the Walsh-Hadamard matrix, d padded to a
 * power of 2. The rotation is orthogonal, so it keeps the L2 norm (and the
 * sensitivity); it spreads a vector's mass evenly over the coordinates, so
 * each coordinate is small and the modular wrap is rare.
 *
 * The signs are public: drawn from the mask stream of a per-round seed, so
 * every device and the server derive the same D and the server can invert.
 *
 * @example
 * const signs = await rotationSigns(seed, roundId, paddedLength(update.length));
 * const y = rotate(update, signs);              // Float64Array of signs.length
 * const x = unrotate(y, signs, update.length);  // back, to float64 precision
 */
import { encodeContext } from './context.ts';
import { maskStream } from './mask-stream.ts';
import { SecAggError } from './secagg-error.ts';

/** The smallest power of 2 >= length (and >= 1). */
export function paddedLength(length: number): number {
  if (!Number.isSafeInteger(length) || length < 0 || length > 2 ** 30)
    throw new SecAggError('bad-parameters', `vector length must be an integer in [0, 2^30], got ${length}`);
  let n = 1;
  while (n < length) n *= 2;
  return n;
}

/** In place: x <- H x / sqrt(n), the orthonormal Walsh-Hadamard transform (its own inverse). */
export function walshHadamardInPlace(x: Float64Array): void {
  const n = x.length;
  if ((n & (n - 1)) !== 0 || n === 0)
    throw new SecAggError('bad-parameters', `the Hadamard transform needs a power-of-2 length, got ${n}`);
  for (let half = 1; half < n; half *= 2) {
    for (let start = 0; start < n; start += 2 * half) {
      for (let i = start; i < start + half; i++) {
        const a = x[i];
        const b = x[i + half];
        x[i] = a + b;
        x[i + half] = a - b;
      }
    }
  }
  const scale = 1 / Math.sqrt(n);
  for (let i = 0; i < n; i++) x[i] *= scale;
}

/** `length` signs (+1 / -1) from the mask stream of `seed` for this round: one bit each. */
export async function rotationSigns(seed: Uint8Array, roundId: string, length: number): Promise<Int8Array> {
  if (seed.length < 16)
    throw new SecAggError('bad-parameters', `a rotation seed needs >= 16 bytes, got ${seed.length}`);
  const words = await maskStream(seed, encodeContext('ddg-rotation', roundId, []), Math.ceil(length / 32));
  const signs = new Int8Array(length);
  for (let i = 0; i < length; i++) signs[i] = (words[i >>> 5] >>> (i & 31)) & 1 ? -1 : 1;
  return signs;
}

/** H D x / sqrt(d): `x` zero-padded to signs.length, signed, transformed. */
export function rotate(x: Float32Array | Float64Array | readonly number[], signs: Int8Array): Float64Array {
  if (x.length > signs.length)
    throw new SecAggError('bad-parameters', `${x.length} values do not fit a rotation of length ${signs.length}`);
  const y = new Float64Array(signs.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * signs[i];
  walshHadamardInPlace(y);
  return y;
}

/** D H y / sqrt(d), truncated to the first `length` values: the inverse of `rotate`. */
export function unrotate(y: Float64Array, signs: Int8Array, length: number): Float64Array {
  if (y.length !== signs.length)
    throw new SecAggError('bad-parameters', `a rotated vector of ${y.length} values needs ${y.length} signs`);
  const x = Float64Array.from(y);
  walshHadamardInPlace(x);
  for (let i = 0; i < x.length; i++) x[i] *= signs[i];
  return x.subarray(0, length);
}
