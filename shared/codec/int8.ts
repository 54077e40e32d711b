/**
 * Int8 affine quantization, per output channel.
 *
 * tfjs kernels are laid out [..., in, out], so the output channel is the LAST
 * axis: element i belongs to channel i % C. Rank 0 and 1 tensors (biases,
 * scalars) use one channel. Per channel c:
 *
 *   q = clamp(round(x / scale) + zeroPoint, -128, 127)     x' = (q - zeroPoint) * scale
 *
 * with lo = min(min(x), 0), hi = max(max(x), 0), scale = (hi - lo) / 255 rounded
 * UP to float32 and zeroPoint = round(-128 - lo / scale), an integer in
 * [-128, 127]. Including 0 in the range keeps exact zeros exact (sparse
 * updates stay sparse). Because the range spans at most 255 steps, every x lies
 * within half a step of a level, so |x - x'| <= scale / 2 (plus float32
 * rounding of the product). An all-zero channel gets scale 0.
 */

export interface Int8Params {
  scales: Float32Array;
  zeroPoints: Int8Array;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Smallest float32 >= v (v finite, >= 0). */
function float32AtLeast(v: number): number {
  const r = Math.fround(v);
  if (r >= v) return r;
  f32[0] = r;
  u32[0] += 1;
  return f32[0];
}

/** Number of channels used for a tensor of `shape` (last axis, or 1 for rank <= 1). */
export function channelCount(shape: readonly number[]): number {
  return shape.length >= 2 ? shape[shape.length - 1] : 1;
}

/**
 * Computes per-channel scale and zero point for `data` (finite values only).
 *
 * @example
 * const p = int8Params(new Float32Array([-1, 0, 1, 2]), 2); // channels [-1, 1] and [0, 2]
 */
export function int8Params(data: Float32Array, channels: number): Int8Params {
  const lo = new Float64Array(channels);
  const hi = new Float64Array(channels);
  for (let i = 0, c = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo[c]) lo[c] = v;
    else if (v > hi[c]) hi[c] = v;
    if (++c === channels) c = 0;
  }
  const scales = new Float32Array(channels);
  const zeroPoints = new Int8Array(channels);
  for (let c = 0; c < channels; c++) {
    const range = hi[c] - lo[c];
    if (range === 0) continue;
    let scale = float32AtLeast(range / 255);
    if (scale === 0) scale = 2 ** -149; // range below the smallest step float32 can hold
    scales[c] = scale;
    zeroPoints[c] = Math.max(-128, Math.min(127, Math.round(-128 - lo[c] / scale)));
  }
  return { scales, zeroPoints };
}

/**
 * Quantizes `data` into `out` with the given per-channel parameters.
 *
 * @example
 * const p = int8Params(x, 1); const q = new Int8Array(x.length); quantizeInt8(x, p, q);
 */
export function quantizeInt8(data: Float32Array, params: Int8Params, out: Int8Array): void {
  const { scales, zeroPoints } = params;
  const channels = scales.length;
  for (let i = 0, c = 0; i < data.length; i++) {
    // Division by the exact scale, not multiplication by its rounded inverse, keeps the bound exact.
    const q = scales[c] === 0 ? zeroPoints[c] : Math.round(data[i] / scales[c]) + zeroPoints[c];
    out[i] = q < -128 ? -128 : q > 127 ? 127 : q;
    if (++c === channels) c = 0;
  }
}

/**
 * Dequantizes `q` into `out`: x' = (q - zeroPoint) * scale per channel.
 *
 * @example
 * const x2 = new Float32Array(q.length); dequantizeInt8(q, p, x2);
 */
export function dequantizeInt8(q: Int8Array, params: Int8Params, out: Float32Array): void {
  const { scales, zeroPoints } = params;
  const channels = scales.length;
  if (LITTLE_ENDIAN && (q.byteOffset & 3) === 0 && q.length >= 64) {
    if (channels === 1) return dequantizeWordsOneChannel(q, scales[0], zeroPoints[0], out);
    if ((channels & 3) === 0 && q.length % channels === 0) return dequantizeWordsByRow(q, params, out);
  }
  if (channels === 1) {
    const s = scales[0];
    const z = zeroPoints[0];
    for (let i = 0; i < q.length; i++) out[i] = (q[i] - z) * s;
    return;
  }
  for (let i = 0, c = 0; i < q.length; i++) {
    out[i] = (q[i] - zeroPoints[c]) * scales[c];
    if (++c === channels) c = 0;
  }
}

/*
 * Word paths: four int8 values per Int32Array load, split by shifts (sign
 * kept by the arithmetic >>), so a 1M-element tensor takes 250k loads instead
 * of 1M; 2.5x faster in V8 (issue 15, codec bench). Same arithmetic per
 * element, so the same floats. Little-endian: byte k of a word is bits 8k..8k+7.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function dequantizeWordsOneChannel(q: Int8Array, s: number, z: number, out: Float32Array): void {
  const words = q.length >>> 2;
  const w = new Int32Array(q.buffer, q.byteOffset, words);
  for (let j = 0, i = 0; j < words; j++, i += 4) {
    const x = w[j];
    out[i] = (((x << 24) >> 24) - z) * s;
    out[i + 1] = (((x << 16) >> 24) - z) * s;
    out[i + 2] = (((x << 8) >> 24) - z) * s;
    out[i + 3] = ((x >> 24) - z) * s;
  }
  for (let i = words * 4; i < q.length; i++) out[i] = (q[i] - z) * s;
}

/** Rows of `channels` (a multiple of 4) values: each row starts on a word. */
function dequantizeWordsByRow(q: Int8Array, { scales, zeroPoints }: Int8Params, out: Float32Array): void {
  const channels = scales.length;
  const w = new Int32Array(q.buffer, q.byteOffset, q.length >>> 2);
  for (let row = 0; row < q.length; row += channels) {
    for (let c = 0; c < channels; c += 4) {
      const i = row + c;
      const x = w[i >>> 2];
      out[i] = (((x << 24) >> 24) - zeroPoints[c]) * scales[c];
      out[i + 1] = (((x << 16) >> 24) - zeroPoints[c + 1]) * scales[c + 1];
      out[i + 2] = (((x << 8) >> 24) - zeroPoints[c + 2]) * scales[c + 2];
      out[i + 3] = ((x >> 24) - zeroPoints[c + 3]) * scales[c + 3];
    }
  }
}
