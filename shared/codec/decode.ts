/**
 * `decodeTensors` and `readTensorTable`: container bytes -> float32 tensors.
 *
 * Check order: header (magic, version, declared length vs. bytes present),
 * then the checksum over everything, then the table (limits before any
 * allocation), then each body. So a short read is `truncated`, a flipped bit
 * is `bad_checksum`, and only a well-formed-but-hostile sender reaches the
 * structural checks.
 *
 * Copies: fp32 bodies are returned as views into the caller's buffer (zero
 * copy) when `bytes` starts 4-byte aligned in its buffer, which holds for any
 * fresh buffer, fetch/Response.arrayBuffer() result or transferred message.
 * Otherwise the whole input is copied once. fp16, int8 and topk tensors are
 * always new arrays. Because of the views, do not reuse or mutate the input
 * buffer while the decoded fp32 tensors are in use (or `slice()` them).
 */
import { CodecError } from './codec-error.ts';
import { crc32c } from './crc32c.ts';
import { decodeFp16 } from './fp16.ts';
import { dequantizeInt8 } from './int8.ts';
import { readIndices } from './topk.ts';
import { readF32, readI8, readU16 } from './body-io.ts';
import { CHECKSUM_BYTES, LITTLE_ENDIAN_HOST, align4 } from './format.ts';
import { parseHeader, parseTable, resolveLimits, type ParsedEntry } from './table.ts';
import type { DecodeLimits, DecodeOptions, DenseEncoding, NamedTensor, TensorTableEntry } from './types.ts';

const F32_MAX = 3.4028234663852886e38;

/**
 * Throws `non_finite` at the first NaN or infinity. The scan adds x * 0 in
 * four lanes (0 for every finite x, NaN for NaN and ±Infinity), which has no
 * branch per element and ran 2-3x faster than comparing each x - x with 0;
 * only a tensor that fails is scanned again for the index to name.
 */
function checkFinite(data: Float32Array, name: string): void {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const end4 = data.length & ~3;
  for (let i = 0; i < end4; i += 4) {
    a += data[i] * 0;
    b += data[i + 1] * 0;
    c += data[i + 2] * 0;
    d += data[i + 3] * 0;
  }
  for (let i = end4; i < data.length; i++) a += data[i] * 0;
  if (a + b + c + d === 0) return;
  for (let i = 0; i < data.length; i++) {
    if (data[i] - data[i] !== 0) {
      throw new CodecError(
        'non_finite',
        `tensor "${name}" holds ${data[i]} at index ${i}; pass allowNonFinite to accept it`,
        { tensor: name, index: i },
      );
    }
  }
}

function checkZeroPadding(bytes: Uint8Array, from: number, to: number, name: string): void {
  for (let p = from; p < to; p++) {
    if (bytes[p] !== 0)
      throw new CodecError('bad_encoding', `tensor "${name}": padding byte at ${p} is not zero`, {
        tensor: name,
        offset: p,
      });
  }
}

/** Decodes a dense body of n elements in `channels` channels starting at `offset`. */
function decodeDense(
  bytes: Uint8Array,
  offset: number,
  encoding: DenseEncoding,
  n: number,
  channels: number,
  name: string,
  allowNonFinite: boolean,
): Float32Array {
  let out: Float32Array;
  if (encoding === 'fp32') {
    out = readF32(bytes, offset, n, LITTLE_ENDIAN_HOST);
  } else if (encoding === 'fp16') {
    out = new Float32Array(n);
    decodeFp16(readU16(bytes, offset, n, LITTLE_ENDIAN_HOST), out);
  } else {
    const scales = readF32(bytes, offset, channels, LITTLE_ENDIAN_HOST);
    let risky = false;
    for (let c = 0; c < channels; c++) {
      const s = scales[c];
      if (!(s >= 0 && s <= F32_MAX)) {
        throw new CodecError(
          'bad_encoding',
          `tensor "${name}": int8 scale ${s} of channel ${c} is not a finite non-negative number`,
          { tensor: name, channel: c },
        );
      }
      if (s > F32_MAX / 256) risky = true;
    }
    const zpAt = offset + 4 * channels;
    checkZeroPadding(bytes, zpAt + channels, zpAt + align4(channels), name);
    const params = { scales, zeroPoints: readI8(bytes, zpAt, channels) };
    out = new Float32Array(n);
    dequantizeInt8(readI8(bytes, zpAt + align4(channels), n), params, out);
    // Only scales this close to float32's limit can push (q - zeroPoint) * scale to Infinity.
    if (risky && !allowNonFinite) checkFinite(out, name);
    return out;
  }
  if (!allowNonFinite) checkFinite(out, name);
  return out;
}

function decodeEntry(bytes: Uint8Array, e: ParsedEntry, allowNonFinite: boolean): Float32Array {
  if (!e.topk)
    return decodeDense(
      bytes,
      e.byteOffset,
      e.encoding as DenseEncoding,
      e.elements,
      e.channels,
      e.name,
      allowNonFinite,
    );
  const { k, indexFormat, indexByteLength } = e.topk;
  const indices = readIndices(
    bytes.subarray(e.byteOffset, e.byteOffset + indexByteLength),
    indexFormat,
    k,
    e.elements,
    e.name,
  );
  checkZeroPadding(bytes, e.byteOffset + indexByteLength, e.byteOffset + align4(indexByteLength), e.name);
  const values = decodeDense(
    bytes,
    e.byteOffset + align4(indexByteLength),
    e.valueEncoding as DenseEncoding,
    k,
    1,
    e.name,
    allowNonFinite,
  );
  const out = new Float32Array(e.elements);
  for (let i = 0; i < k; i++) out[indices[i]] = values[i];
  return out;
}

function publicEntry(e: ParsedEntry): TensorTableEntry {
  const entry: TensorTableEntry = {
    name: e.name,
    shape: e.shape.slice(),
    encoding: e.encoding,
    byteOffset: e.byteOffset,
    byteLength: e.byteLength,
  };
  if (e.valueEncoding !== undefined) entry.valueEncoding = e.valueEncoding;
  return entry;
}

/**
 * Reads and validates the header and tensor table only: no checksum, no
 * bodies. `bytes` may be just a prefix holding the header and table (for
 * example the first chunk of an upload), so a server can reject wrong shapes
 * before the body arrives. Use `decodeTensors` for a verified read.
 *
 * @example
 * const shapes = readTensorTable(firstChunk).map((e) => e.shape);
 */
export function readTensorTable(bytes: Uint8Array, limits?: Partial<DecodeLimits>): TensorTableEntry[] {
  const resolved = resolveLimits(limits);
  const header = parseHeader(bytes);
  if (bytes.length > header.totalLength) {
    throw new CodecError(
      'length_mismatch',
      `got ${bytes.length} bytes but the header says the container is ${header.totalLength}`,
    );
  }
  return parseTable(bytes, header, resolved).map(publicEntry);
}

/**
 * Decodes a container into float32 tensors (dequantized, top-k densified with
 * zeros), in the order they were encoded. Throws `CodecError` for anything
 * malformed, oversized or corrupted; never another error type.
 *
 * @example
 * const res = await fetch(url);
 * const tensors = decodeTensors(new Uint8Array(await res.arrayBuffer()), { maxTotalElements: 5e6 });
 * // A host with a hardware CRC-32C passes it: decodeTensors(bytes, { crc32c: nativeCrc32c })
 */
export function decodeTensors(bytes: Uint8Array, options?: DecodeOptions): NamedTensor[] {
  const { crc32c: checksum = crc32c, ...limits } = options ?? {};
  const resolved = resolveLimits(limits);
  const header = parseHeader(bytes);
  if (bytes.length < header.totalLength) {
    throw new CodecError(
      'truncated',
      `container is ${bytes.length} bytes but its header says ${header.totalLength}; the transfer was cut short`,
      {
        received: bytes.length,
        expected: header.totalLength,
      },
    );
  }
  if (bytes.length > header.totalLength) {
    throw new CodecError(
      'length_mismatch',
      `got ${bytes.length} bytes but the header says the container is ${header.totalLength}`,
    );
  }
  const end = header.totalLength - CHECKSUM_BYTES;
  const stored = new DataView(bytes.buffer, bytes.byteOffset + end, CHECKSUM_BYTES).getUint32(0, true);
  if (checksum(bytes.subarray(0, end)) !== stored) {
    throw new CodecError(
      'bad_checksum',
      'container checksum does not match its contents; the bytes were corrupted in transit or storage, fetch them again',
    );
  }
  // Unaligned input (e.g. a subarray of a larger message) is copied once so every body can be a typed view.
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const entries = parseTable(aligned, header, resolved);
  const out: NamedTensor[] = [];
  for (const e of entries) {
    checkZeroPadding(aligned, e.byteOffset + e.byteLength, align4(e.byteOffset + e.byteLength), e.name);
    out.push({ name: e.name, shape: e.shape, data: decodeEntry(aligned, e, resolved.allowNonFinite) });
  }
  return out;
}
