/**
 * Public types of the tensor codec: what callers hand to `encodeTensors` and get
 * back from `decodeTensors` / `readTensorTable`. Kept apart from the byte layout
 * so that other folders can `import type` them without pulling in code.
 */

/** Encodings that store every element: 4, 2 or 1 byte(s) per element. */
export type DenseEncoding = 'fp32' | 'fp16' | 'int8';

/** Every per-tensor encoding; `topk` keeps only the largest-magnitude entries. */
export type TensorEncoding = DenseEncoding | 'topk';

/**
 * A named dense tensor. `data.length` must equal the product of `shape`
 * (row-major, last axis fastest, as in tfjs).
 *
 * @example
 * const bias: NamedTensor = { name: 'dense/bias', shape: [10], data: new Float32Array(10) };
 */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * How one tensor is encoded.
 *
 * @example
 * const spec: TensorEncodingSpec = { encoding: 'topk', topkFraction: 0.01, topkValues: 'int8' };
 */
export interface TensorEncodingSpec {
  encoding: TensorEncoding;
  /** Fraction of entries kept by `topk`, in (0, 1]; required for `topk`. k = ceil(fraction * n). */
  topkFraction?: number;
  /** Encoding of the kept values for `topk`; default `fp32`. */
  topkValues?: DenseEncoding;
}

/**
 * Bounds the decoder enforces before it allocates anything. Defaults are in
 * `DEFAULT_DECODE_LIMITS`; pass a partial object to override some.
 *
 * @example
 * decodeTensors(bytes, { maxTotalElements: 2_000_000 });
 */
export interface DecodeLimits {
  maxTensors: number;
  maxElementsPerTensor: number;
  maxTotalElements: number;
  maxNameBytes: number;
  maxRank: number;
  /** Accept NaN / ±Infinity in decoded values (default false: rejected with `non_finite`). */
  allowNonFinite: boolean;
}

/**
 * What `decodeTensors` takes besides the bytes: any limits to override, and
 * the CRC-32C to verify the container with (default: the portable
 * JavaScript one). A host with a hardware CRC passes it here; it must compute
 * the same CRC-32C, or every container is refused as corrupted.
 *
 * @example
 * decodeTensors(bytes, { maxTotalElements: 2_000_000, crc32c: nativeCrc32c });
 */
export interface DecodeOptions extends Partial<DecodeLimits> {
  crc32c?: (bytes: Uint8Array) => number;
}

/**
 * One row of the tensor table, as `readTensorTable` reports it. Offsets are
 * relative to the start of the encoded bytes.
 *
 * @example
 * const sizes = readTensorTable(bytes).map((e) => [e.name, e.byteLength]);
 */
export interface TensorTableEntry {
  name: string;
  shape: number[];
  encoding: TensorEncoding;
  /** Set for `topk` only: how the kept values are stored. */
  valueEncoding?: DenseEncoding;
  byteOffset: number;
  byteLength: number;
}
