/**
 * Reading the container header and tensor table without trusting any of it.
 *
 * Every count, length and offset is checked against the bytes actually
 * present and against `DecodeLimits` before anything is allocated, so a
 * 30-byte message cannot make the decoder reserve gigabytes or loop for long:
 * the loop over entries is bounded by the table length (each entry takes at
 * least 12 bytes), and element counts are multiplied with an early limit check.
 */
import { CodecError } from './codec-error.ts';
import { INDEX_FORMATS, type IndexFormat } from './topk.ts';
import {
  CHECKSUM_BYTES,
  DENSE_ENCODINGS,
  ENCODINGS,
  FORMAT_VERSION,
  HEADER_BYTES,
  MAGIC,
  align4,
  denseBodyLength,
  topkBodyLength,
} from './format.ts';
import type { DecodeLimits, TensorTableEntry } from './types.ts';

/**
 * Limits applied when the caller passes none: generous for a model update of
 * tens of millions of parameters, small enough that a hostile message cannot
 * make the decoder allocate more than ~256 MiB.
 *
 * @example
 * decodeTensors(bytes, { ...DEFAULT_DECODE_LIMITS, maxTotalElements: 1 << 28 });
 */
export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxTensors: 10_000,
  maxElementsPerTensor: 1 << 25,
  maxTotalElements: 1 << 26,
  maxNameBytes: 1024,
  maxRank: 8,
  allowNonFinite: false,
});

/** A table entry with what the decoder needs beyond the public fields. */
export interface ParsedEntry extends TensorTableEntry {
  elements: number;
  channels: number;
  topk?: { k: number; indexFormat: IndexFormat; indexByteLength: number };
}

export interface ParsedHeader {
  totalLength: number;
  tensorCount: number;
  tableLength: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function fail(code: CodecError['code'], message: string, details?: Record<string, unknown>): CodecError {
  return new CodecError(code, message, details);
}

/** Merges caller limits over the defaults, rejecting nonsense values. */
export function resolveLimits(limits: Partial<DecodeLimits> | undefined): DecodeLimits {
  const merged: DecodeLimits = { ...DEFAULT_DECODE_LIMITS, ...limits };
  for (const key of ['maxTensors', 'maxElementsPerTensor', 'maxTotalElements', 'maxNameBytes', 'maxRank'] as const) {
    const v = merged[key];
    if (typeof v !== 'number' || !(v >= 0))
      throw fail('bad_input', `decode limit ${key} must be a non-negative number, got ${String(v)}`);
  }
  return merged;
}

/** Reads and checks the fixed 20-byte header. */
export function parseHeader(bytes: Uint8Array): ParsedHeader {
  if (!(bytes instanceof Uint8Array)) throw fail('bad_input', 'expected the encoded tensors as a Uint8Array');
  for (let i = 0; i < MAGIC.length && i < bytes.length; i++) {
    if (bytes[i] !== MAGIC[i])
      throw fail('bad_magic', 'these bytes are not a Flock tensor container (magic "FLKT" missing)');
  }
  if (bytes.length < HEADER_BYTES)
    throw fail('truncated', `container is ${bytes.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const version = dv.getUint16(4, true);
  if (version !== FORMAT_VERSION) {
    throw fail(
      'unsupported_version',
      `container format version ${version} is not supported (this decoder reads version ${FORMAT_VERSION}); upgrade flock`,
      { version },
    );
  }
  if (dv.getUint16(6, true) !== 0) throw fail('bad_header', 'reserved header flags are set');
  const totalLength = dv.getUint32(8, true);
  const tensorCount = dv.getUint32(12, true);
  const tableLength = dv.getUint32(16, true);
  if (totalLength % 4 !== 0 || tableLength % 4 !== 0 || HEADER_BYTES + tableLength + CHECKSUM_BYTES > totalLength) {
    throw fail('bad_header', `inconsistent header: total ${totalLength} bytes, table ${tableLength} bytes`, {
      totalLength,
      tableLength,
    });
  }
  return { totalLength, tensorCount, tableLength };
}

/** Parses and validates the table; `bytes` must hold at least the header and table. */
export function parseTable(bytes: Uint8Array, header: ParsedHeader, limits: DecodeLimits): ParsedEntry[] {
  const { totalLength, tensorCount, tableLength } = header;
  const tableEnd = HEADER_BYTES + tableLength;
  if (bytes.length < tableEnd)
    throw fail('truncated', `container ends at byte ${bytes.length}, inside its tensor table (ends at ${tableEnd})`);
  if (tensorCount > limits.maxTensors) {
    throw fail(
      'limit_exceeded',
      `container holds ${tensorCount} tensors, more than the limit of ${limits.maxTensors}`,
      { tensorCount },
    );
  }
  if (tensorCount * 12 > tableLength)
    throw fail('bad_header', `a ${tableLength}-byte table cannot describe ${tensorCount} tensors`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, tableEnd);
  let at = HEADER_BYTES;
  const need = (n: number, i: number) => {
    if (at + n > tableEnd) throw fail('bad_header', `table entry ${i} runs past the end of the table`, { entry: i });
  };
  const entries: ParsedEntry[] = [];
  const names = new Set<string>();
  let totalElements = 0;
  let nextBody = tableEnd;
  for (let i = 0; i < tensorCount; i++) {
    need(4, i);
    const nameLength = dv.getUint16(at, true);
    const encoding = ENCODINGS[dv.getUint8(at + 2)];
    const rank = dv.getUint8(at + 3);
    at += 4;
    if (encoding === undefined)
      throw fail('bad_encoding', `table entry ${i} has unknown encoding code ${dv.getUint8(at - 2)}`, { entry: i });
    if (nameLength > limits.maxNameBytes)
      throw fail('limit_exceeded', `tensor name of ${nameLength} bytes exceeds the limit of ${limits.maxNameBytes}`, {
        entry: i,
      });
    if (rank > limits.maxRank)
      throw fail('limit_exceeded', `tensor rank ${rank} exceeds the limit of ${limits.maxRank}`, { entry: i });
    need(align4(nameLength), i);
    let name: string;
    try {
      name = utf8.decode(bytes.subarray(at, at + nameLength));
    } catch {
      throw fail('bad_header', `table entry ${i} has a name that is not valid UTF-8`, { entry: i });
    }
    for (let p = at + nameLength; p < at + align4(nameLength); p++) {
      if (bytes[p] !== 0) throw fail('bad_header', `tensor "${name}": name padding is not zero`, { tensor: name });
    }
    if (names.has(name)) throw fail('bad_header', `tensor name "${name}" appears twice`, { tensor: name });
    names.add(name);
    at += align4(nameLength);
    need(4 * rank, i);
    const shape: number[] = [];
    let elements = 1;
    for (let d = 0; d < rank; d++) {
      const dim = dv.getUint32(at, true);
      at += 4;
      if (dim > limits.maxElementsPerTensor) elements = Number.POSITIVE_INFINITY;
      elements *= dim;
      if (elements > limits.maxElementsPerTensor) {
        throw fail(
          'limit_exceeded',
          `tensor "${name}" has more elements than the limit of ${limits.maxElementsPerTensor}`,
          { tensor: name },
        );
      }
      shape.push(dim);
    }
    totalElements += elements;
    if (totalElements > limits.maxTotalElements) {
      throw fail(
        'limit_exceeded',
        `container holds more than the limit of ${limits.maxTotalElements} elements in total`,
        { tensor: name },
      );
    }
    const channels = rank >= 2 ? shape[rank - 1] : 1;
    const entry: ParsedEntry = { name, shape, encoding, byteOffset: 0, byteLength: 0, elements, channels };
    let expectedLength: number;
    if (encoding === 'topk') {
      need(12, i);
      const k = dv.getUint32(at, true);
      const valueEncoding = DENSE_ENCODINGS[dv.getUint8(at + 4)];
      const indexFormat = INDEX_FORMATS[dv.getUint8(at + 5)];
      const reserved = dv.getUint16(at + 6, true);
      const indexByteLength = dv.getUint32(at + 8, true);
      at += 12;
      if (valueEncoding === undefined || indexFormat === undefined)
        throw fail('bad_encoding', `tensor "${name}": unknown topk value encoding or index format`, { tensor: name });
      if (reserved !== 0) throw fail('bad_header', `tensor "${name}": reserved topk field is set`, { tensor: name });
      if (k > elements)
        throw fail('bad_encoding', `tensor "${name}": keeps ${k} of only ${elements} entries`, {
          tensor: name,
          k,
          elements,
        });
      const [minIdx, maxIdx] =
        indexFormat === 'varint' ? [k, 5 * k] : indexFormat === 'u16' ? [2 * k, 2 * k] : [4 * k, 4 * k];
      if (indexByteLength < minIdx || indexByteLength > maxIdx) {
        throw fail(
          'length_mismatch',
          `tensor "${name}": ${indexByteLength} index bytes cannot hold ${k} ${indexFormat} indices`,
          { tensor: name },
        );
      }
      entry.valueEncoding = valueEncoding;
      entry.topk = { k, indexFormat, indexByteLength };
      expectedLength = topkBodyLength(valueEncoding, k, indexByteLength);
    } else {
      expectedLength = denseBodyLength(encoding, elements, channels);
    }
    need(8, i);
    const byteOffset = dv.getUint32(at, true);
    const byteLength = dv.getUint32(at + 4, true);
    at += 8;
    if (byteOffset !== nextBody) {
      throw fail(
        'bad_header',
        `tensor "${name}": body offset ${byteOffset}, expected ${nextBody} (bodies are contiguous, 4-byte aligned, in table order)`,
        { tensor: name },
      );
    }
    if (byteLength !== expectedLength) {
      throw fail(
        'length_mismatch',
        `tensor "${name}": body is ${byteLength} bytes, its shape and encoding need ${expectedLength}`,
        { tensor: name },
      );
    }
    if (byteOffset + byteLength > totalLength - CHECKSUM_BYTES) {
      throw fail('length_mismatch', `tensor "${name}": body runs past the end of the container`, { tensor: name });
    }
    entry.byteOffset = byteOffset;
    entry.byteLength = byteLength;
    nextBody = align4(byteOffset + byteLength);
    entries.push(entry);
  }
  if (at !== tableEnd) throw fail('bad_header', `tensor table has ${tableEnd - at} unused bytes`);
  if (nextBody + CHECKSUM_BYTES !== totalLength) {
    throw fail(
      'length_mismatch',
      `bodies end at ${nextBody} but the header says the container is ${totalLength} bytes`,
    );
  }
  return entries;
}
