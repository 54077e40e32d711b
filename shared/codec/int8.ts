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
