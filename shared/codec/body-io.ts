/**
 * Reading and writing typed sections of a container body.
 *
 * On a little-endian host (every browser and Node platform Flock targets) a
 * section is a typed-array view: writes are one `set`, reads of fp32 bodies
 * are zero-copy. On a big-endian host, or when the caller's bytes are not
 * 4-byte aligned in their buffer, the slower DataView path copies instead.
 * `native` is passed in rather than read from a global so tests can force the
 * fallback on a little-endian machine.
 */

/** A view of `n` float32 values at `offset` of `bytes`, or a copy when it cannot be a view. */
export function readF32(bytes: Uint8Array, offset: number, n: number, native: boolean): Float32Array {
  const at = bytes.byteOffset + offset;
  if (native && at % 4 === 0) return new Float32Array(bytes.buffer, at, n);
  const dv = new DataView(bytes.buffer, at, 4 * n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

/** `n` uint16 values at `offset` (a view when possible). */
export function readU16(bytes: Uint8Array, offset: number, n: number, native: boolean): Uint16Array {
  const at = bytes.byteOffset + offset;
  if (native && at % 2 === 0) return new Uint16Array(bytes.buffer, at, n);
  const dv = new DataView(bytes.buffer, at, 2 * n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, true);
  return out;
}

/** `n` int8 values at `offset` (always a view: bytes have no endianness). */
export function readI8(bytes: Uint8Array, offset: number, n: number): Int8Array {
  return new Int8Array(bytes.buffer, bytes.byteOffset + offset, n);
}

/** Writes float32 values at `offset` of `out` (4-aligned in a fresh buffer). */
export function writeF32(out: Uint8Array, offset: number, src: Float32Array, native: boolean): void {
  if (native) {
    new Float32Array(out.buffer, out.byteOffset + offset, src.length).set(src);
    return;
  }
  const dv = new DataView(out.buffer, out.byteOffset + offset, 4 * src.length);
  for (let i = 0; i < src.length; i++) dv.setFloat32(4 * i, src[i], true);
}

/** Writes uint16 values at `offset` of `out`. */
export function writeU16(out: Uint8Array, offset: number, src: Uint16Array, native: boolean): void {
  if (native) {
    new Uint16Array(out.buffer, out.byteOffset + offset, src.length).set(src);
    return;
  }
  const dv = new DataView(out.buffer, out.byteOffset + offset, 2 * src.length);
  for (let i = 0; i < src.length; i++) dv.setUint16(2 * i, src[i], true);
}
