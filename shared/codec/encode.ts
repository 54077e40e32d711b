/**
 * `encodeTensors`: named float32 tensors -> one container (see format.ts).
 *
 * The whole container is written into a single fresh ArrayBuffer, so the
 * result can be posted from a worker with `transfer(bytes, [bytes.buffer])`.
 * Every input is validated first; nothing is allocated for the output until
 * all tensors have been checked and planned.
 */
import { CodecError } from './codec-error.ts';
import { crc32c } from './crc32c.ts';
import { encodeFp16 } from './fp16.ts';
import { channelCount, int8Params, quantizeInt8, type Int8Params } from './int8.ts';
import { INDEX_FORMAT_CODES, planIndices, selectTopk, topkCount, writeIndices, type IndexFormat } from './topk.ts';
import { writeF32, writeU16 } from './body-io.ts';
import {
  CHECKSUM_BYTES,
  DENSE_ENCODINGS,
  ENCODING_CODES,
  ENCODINGS,
  FORMAT_VERSION,
  HEADER_BYTES,
  LITTLE_ENDIAN_HOST,
  MAGIC,
  align4,
  denseBodyLength,
  tableEntryLength,
  topkBodyLength,
} from './format.ts';
import type { DenseEncoding, NamedTensor, TensorEncodingSpec } from './types.ts';

interface TopkPlan {
  k: number;
  valueEncoding: DenseEncoding;
  indices: Uint32Array;
  indexFormat: IndexFormat;
  indexByteLength: number;
  values: Float32Array;
  valueParams?: Int8Params;
}

interface Plan {
  tensor: NamedTensor;
  nameBytes: Uint8Array;
  spec: TensorEncodingSpec;
  int8?: Int8Params;
  topk?: TopkPlan;
  bodyLength: number;
  bodyOffset: number;
}

const utf8 = new TextEncoder();

function bad(message: string, details?: Record<string, unknown>): CodecError {
  return new CodecError('bad_input', message, details);
}

function checkFinite(t: NamedTensor, encoding: string): void {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    if (d[i] - d[i] !== 0) {
      throw bad(
        `tensor "${t.name}" holds ${d[i]} at index ${i}; ${encoding} can only encode finite values (use fp32 or fp16)`,
        {
          tensor: t.name,
          index: i,
        },
      );
    }
  }
}

function validateTensor(t: NamedTensor, seen: Set<string>): Uint8Array {
  if (typeof t?.name !== 'string') throw bad('every tensor needs a string name');
  const nameBytes = utf8.encode(t.name);
  if (nameBytes.length > 0xffff) throw bad(`tensor name "${t.name.slice(0, 40)}..." is longer than 65535 UTF-8 bytes`);
  if (seen.has(t.name)) throw bad(`tensor name "${t.name}" appears twice; names must be unique`, { tensor: t.name });
  seen.add(t.name);
  if (!(t.data instanceof Float32Array))
    throw bad(`tensor "${t.name}": data must be a Float32Array`, { tensor: t.name });
  if (!Array.isArray(t.shape) || t.shape.length > 255)
    throw bad(`tensor "${t.name}": shape must be an array of at most 255 dims`, { tensor: t.name });
  let n = 1;
  for (const d of t.shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) {
      throw bad(`tensor "${t.name}": shape ${JSON.stringify(t.shape)} has a dim that is not an integer in [0, 2^32)`, {
        tensor: t.name,
      });
    }
    n *= d;
  }
  if (n !== t.data.length) {
    throw bad(
      `tensor "${t.name}": shape ${JSON.stringify(t.shape)} holds ${n} elements but data has ${t.data.length}`,
      { tensor: t.name },
    );
  }
  return nameBytes;
}

function validateSpec(spec: TensorEncodingSpec, name: string): TensorEncodingSpec {
  if (!spec || !ENCODINGS.includes(spec.encoding)) {
    throw bad(`tensor "${name}": encoding must be one of ${ENCODINGS.join(', ')}`, { tensor: name });
  }
  if (spec.encoding !== 'topk') return spec;
  const f = spec.topkFraction;
  if (typeof f !== 'number' || !(f > 0 && f <= 1)) {
    throw bad(`tensor "${name}": topk needs topkFraction in (0, 1], got ${String(f)}`, { tensor: name });
  }
  if (spec.topkValues !== undefined && !DENSE_ENCODINGS.includes(spec.topkValues)) {
    throw bad(`tensor "${name}": topkValues must be one of ${DENSE_ENCODINGS.join(', ')}`, { tensor: name });
  }
  return spec;
}

function planTopk(t: NamedTensor, spec: TensorEncodingSpec): TopkPlan {
  const valueEncoding = spec.topkValues ?? 'fp32';
  const k = topkCount(t.data.length, spec.topkFraction as number);
  const indices = selectTopk(t.data, k);
  const { format, byteLength } = planIndices(indices);
  const values = new Float32Array(k);
  for (let i = 0; i < k; i++) values[i] = t.data[indices[i]];
  const valueParams = valueEncoding === 'int8' ? int8Params(values, 1) : undefined;
  return { k, valueEncoding, indices, indexFormat: format, indexByteLength: byteLength, values, valueParams };
}

/** Writes a dense body of `data` at `offset`. */
function writeDense(
  out: Uint8Array,
  offset: number,
  data: Float32Array,
  encoding: DenseEncoding,
  params: Int8Params | undefined,
  name: string,
): void {
  if (encoding === 'fp32') {
    writeF32(out, offset, data, LITTLE_ENDIAN_HOST);
  } else if (encoding === 'fp16') {
    if (LITTLE_ENDIAN_HOST) {
      encodeFp16(data, new Uint16Array(out.buffer, out.byteOffset + offset, data.length), name);
    } else {
      const tmp = new Uint16Array(data.length);
      encodeFp16(data, tmp, name);
      writeU16(out, offset, tmp, false);
    }
  } else {
    const p = params as Int8Params;
    const c = p.scales.length;
    writeF32(out, offset, p.scales, LITTLE_ENDIAN_HOST);
    out.set(new Uint8Array(p.zeroPoints.buffer, p.zeroPoints.byteOffset, c), offset + 4 * c);
    quantizeInt8(data, p, new Int8Array(out.buffer, out.byteOffset + offset + 4 * c + align4(c), data.length));
  }
}

/**
 * Encodes tensors into one self-describing, checksummed container.
 * `spec` is one encoding for all tensors or a function choosing per tensor.
 * Throws `CodecError('bad_input')` for invalid tensors or specs, for non-finite
 * values under int8/topk, and for finite values beyond the fp16 range.
 *
 * @example
 * const bytes = encodeTensors(update, (t) => t.shape.length > 1 ? { encoding: 'int8' } : { encoding: 'fp32' });
 * worker.postMessage(bytes, [bytes.buffer]);
 */
export function encodeTensors(
  tensors: NamedTensor[],
  spec: TensorEncodingSpec | ((t: NamedTensor) => TensorEncodingSpec),
): Uint8Array {
  if (!Array.isArray(tensors)) throw bad('tensors must be an array');
  const seen = new Set<string>();
  const plans: Plan[] = [];
  let tableLength = 0;
  for (const tensor of tensors) {
    const nameBytes = validateTensor(tensor, seen);
    const s = validateSpec(typeof spec === 'function' ? spec(tensor) : spec, tensor.name);
    const n = tensor.data.length;
    const plan: Plan = { tensor, nameBytes, spec: s, bodyLength: 0, bodyOffset: 0 };
    if (s.encoding === 'int8' || s.encoding === 'topk') checkFinite(tensor, s.encoding);
    if (s.encoding === 'topk') {
      plan.topk = planTopk(tensor, s);
      plan.bodyLength = topkBodyLength(plan.topk.valueEncoding, plan.topk.k, plan.topk.indexByteLength);
    } else {
      const channels = channelCount(tensor.shape);
      if (s.encoding === 'int8') plan.int8 = int8Params(tensor.data, channels);
      plan.bodyLength = denseBodyLength(s.encoding, n, channels);
    }
    tableLength += tableEntryLength(nameBytes.length, tensor.shape.length, s.encoding);
    plans.push(plan);
  }
  let offset = HEADER_BYTES + tableLength;
  for (const p of plans) {
    p.bodyOffset = offset;
    offset = align4(offset + p.bodyLength);
  }
  const total = offset + CHECKSUM_BYTES;
  if (total > 0xffffffff)
    throw bad(`encoded size ${total} bytes exceeds the format's 4 GiB limit; send the tensors in several containers`);

  const out = new Uint8Array(new ArrayBuffer(total));
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint16(4, FORMAT_VERSION, true);
  dv.setUint16(6, 0, true);
  dv.setUint32(8, total, true);
  dv.setUint32(12, plans.length, true);
  dv.setUint32(16, tableLength, true);

  let at = HEADER_BYTES;
  for (const p of plans) {
    dv.setUint16(at, p.nameBytes.length, true);
    dv.setUint8(at + 2, ENCODING_CODES[p.spec.encoding]);
    dv.setUint8(at + 3, p.tensor.shape.length);
    out.set(p.nameBytes, at + 4);
    at += 4 + align4(p.nameBytes.length);
    for (const d of p.tensor.shape) {
      dv.setUint32(at, d, true);
      at += 4;
    }
    if (p.topk) {
      dv.setUint32(at, p.topk.k, true);
      dv.setUint8(at + 4, ENCODING_CODES[p.topk.valueEncoding]);
      dv.setUint8(at + 5, INDEX_FORMAT_CODES[p.topk.indexFormat]);
      dv.setUint32(at + 8, p.topk.indexByteLength, true);
      at += 12;
    }
    dv.setUint32(at, p.bodyOffset, true);
    dv.setUint32(at + 4, p.bodyLength, true);
    at += 8;
  }

  for (const p of plans) {
    const name = p.tensor.name;
    if (p.topk) {
      const t = p.topk;
      writeIndices(t.indices, t.indexFormat, out.subarray(p.bodyOffset, p.bodyOffset + t.indexByteLength));
      writeDense(out, p.bodyOffset + align4(t.indexByteLength), t.values, t.valueEncoding, t.valueParams, name);
    } else {
      writeDense(out, p.bodyOffset, p.tensor.data, p.spec.encoding as DenseEncoding, p.int8, name);
    }
  }
  dv.setUint32(total - CHECKSUM_BYTES, crc32c(out.subarray(0, total - CHECKSUM_BYTES)), true);
  return out;
}
