/**
 * shared/codec: named float32 tensors <-> one self-describing binary container
 * (fp32, fp16, per-channel int8, top-k sparse), with a checksum and a decoder
 * that trusts nothing. Byte layout: see format.ts and README.md.
 *
 * @example
 * import { encodeTensors, decodeTensors } from 'flock/shared/codec';
 * const bytes = encodeTensors([{ name: 'w', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }], { encoding: 'int8' });
 * const [w] = decodeTensors(bytes);
 */
export type {
  DenseEncoding,
  TensorEncoding,
  NamedTensor,
  TensorEncodingSpec,
  DecodeLimits,
  DecodeOptions,
  TensorTableEntry,
} from './types.ts';
export type { CodecErrorCode } from './codec-error.ts';
export { CodecError } from './codec-error.ts';
export { encodeTensors } from './encode.ts';
export { decodeTensors, readTensorTable } from './decode.ts';
export { DEFAULT_DECODE_LIMITS } from './table.ts';
export { ErrorFeedback, applyErrorFeedback, updateResidual } from './error-feedback.ts';
export { crc32c, type Crc32c } from './crc32c.ts';
