/**
 * The Flock tensor container, version 1: byte layout and the arithmetic both
 * the encoder and the decoder rely on. All integers little-endian; every
 * section starts 4-byte aligned; every padding byte is zero.
 *
 * ```
 * offset  size  field
 * 0       4     magic "FLKT" (46 4C 4B 54)
 * 4       2     format version (1)
 * 6       2     flags (0; reserved)
 * 8       4     total byte length of the container, checksum included
 * 12      4     tensor count
 * 16      4     table byte length T (multiple of 4)
 * 20      T     tensor table: one entry per tensor, in body order
 * 20+T    ...   bodies, each at align4(end of previous), no gaps, no overlap
 * total-4 4     CRC-32C of bytes [0, total-4)
 *
 * table entry:
 *   u16 name byte length | u8 encoding (0 fp32, 1 fp16, 2 int8, 3 topk) | u8 rank
 *   name (UTF-8), zero-padded to 4
 *   u32 dims[rank]
 *   topk only: u32 k | u8 value encoding (0..2) | u8 index format (0 varint, 1 u16, 2 u32)
 *              | u16 reserved 0 | u32 index byte length
 *   u32 body offset (from byte 0) | u32 body byte length (unpadded)
 *
 * bodies (n = product of dims, C = last dim for rank >= 2 else 1):
 *   fp32  f32[n]
 *   fp16  u16[n] (IEEE half)
 *   int8  f32 scale[C] | i8 zeroPoint[C] padded to 4 | i8 q[n]
 *   topk  delta-encoded indices (index byte length) padded to 4
 *         | the k kept values as a dense body with C = 1
 * ```
 *
 * Why the total length is in the header: a short read is then reported as
 * `truncated` before the checksum is even computed, and a reader of only the
 * header and table (`readTensorTable`) can still check that body extents fit.
 */
import type { DenseEncoding, TensorEncoding } from './types.ts';

export const MAGIC = [0x46, 0x4c, 0x4b, 0x54] as const;
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 20;
export const CHECKSUM_BYTES = 4;

export const ENCODING_CODES: Record<TensorEncoding, number> = { fp32: 0, fp16: 1, int8: 2, topk: 3 };
export const ENCODINGS: readonly TensorEncoding[] = ['fp32', 'fp16', 'int8', 'topk'];
export const DENSE_ENCODINGS: readonly DenseEncoding[] = ['fp32', 'fp16', 'int8'];

/** Whether typed-array views read this format's little-endian numbers natively. */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Rounds up to a multiple of 4. */
export function align4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

/** Byte length of a dense body of n elements in `channels` channels. */
export function denseBodyLength(encoding: DenseEncoding, n: number, channels: number): number {
  if (encoding === 'fp32') return 4 * n;
  if (encoding === 'fp16') return 2 * n;
  return 4 * channels + align4(channels) + n;
}

/** Byte length of a topk body. */
export function topkBodyLength(valueEncoding: DenseEncoding, k: number, indexByteLength: number): number {
  return align4(indexByteLength) + denseBodyLength(valueEncoding, k, 1);
}

/** Bytes a table entry takes for a name of `nameBytes` bytes and the given rank. */
export function tableEntryLength(nameBytes: number, rank: number, encoding: TensorEncoding): number {
  return 4 + align4(nameBytes) + 4 * rank + (encoding === 'topk' ? 12 : 0) + 8;
}
