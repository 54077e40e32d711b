/**
 * Delivery variants of a model: its weights in the shared tensor codec at fp32,
 * fp16 and int8 (affine, per output channel). Every variant uses the same
 * codec format, so a client has one loader whatever it downloads; large
 * variants are cut into fixed-size shards so that downloads resume per shard.
 */
import { CodecError, decodeTensors, encodeTensors } from '../../shared/codec/index.ts';
import type { DenseEncoding } from '../../shared/codec/index.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import type { ModelPackage } from './model-files.ts';
import { ModelPackageError } from './model-package-error.ts';

export type VariantEncoding = DenseEncoding;

export interface ModelVariant {
  encoding: VariantEncoding;
  /** The model's weights as one codec file. */
  bytes: Uint8Array;
}

/** Encodings derived for every model, most accurate first. */
export const VARIANT_ENCODINGS: readonly VariantEncoding[] = ['fp32', 'fp16', 'int8'];

/** 4 MiB: small enough to retry cheaply, large enough to keep request counts low. */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/**
 * Encode the package's weights once per encoding.
 *
 * @example
 * const variants = deriveVariants(pkg); // [{ encoding: 'fp32', bytes }, { encoding: 'fp16', … }, { encoding: 'int8', … }]
 */
export function deriveVariants(
  pkg: Pick<ModelPackage, 'weightSpecs' | 'weights'>,
  encodings: readonly VariantEncoding[] = VARIANT_ENCODINGS,
): ModelVariant[] {
  const tensors = pkg.weightSpecs.map((spec, i) => ({ name: spec.name, shape: spec.shape, data: pkg.weights[i] }));
  return encodings.map((encoding) => ({ encoding, bytes: encodeTensors(tensors, { encoding }) }));
}

/**
 * Cut bytes into consecutive shards of at most `shardSize` bytes (views, not
 * copies). An empty input gives one empty shard, so every blob has a shard.
 *
 * @example
 * const shards = shardBytes(variant.bytes); // 10 MiB -> [4 MiB, 4 MiB, 2 MiB]
 */
export function shardBytes(bytes: Uint8Array, shardSize = DEFAULT_SHARD_BYTES): Uint8Array[] {
  if (!Number.isInteger(shardSize) || shardSize < 1)
    throw new RangeError(`shardSize must be a positive integer, got ${shardSize}`);
  if (bytes.byteLength === 0) return [bytes];
  const shards: Uint8Array[] = [];
  for (let at = 0; at < bytes.byteLength; at += shardSize) shards.push(bytes.subarray(at, at + shardSize));
  return shards;
}

/**
 * Decode a variant back to float32 weights, checking that it holds exactly
 * the tensors of `weightSpecs`, in order, with the same shapes.
 * @throws ModelPackageError 'bad_variant'
 *
 * @example
 * const weights = weightsFromVariant(int8Bytes, pkg.weightSpecs);
 * const model = await modelFromParts({ topology: pkg.topology, weightSpecs: pkg.weightSpecs, weights });
 */
export function weightsFromVariant(bytes: Uint8Array, weightSpecs: readonly WeightSpec[]): Float32Array[] {
  let tensors;
  try {
    tensors = decodeTensors(bytes);
  } catch (err) {
    const reason = err instanceof CodecError ? `${err.code}: ${err.message}` : (err as Error).message;
    throw new ModelPackageError(
      'bad_variant',
      `the variant does not decode (${reason}); derive it again from the stored model`,
      { cause: err },
    );
  }
  if (tensors.length !== weightSpecs.length) {
    throw new ModelPackageError(
      'bad_variant',
      `the variant holds ${tensors.length} tensors but the model has ${weightSpecs.length} weights`,
    );
  }
  return tensors.map((t, i) => {
    const spec = weightSpecs[i];
    if (t.name !== spec.name || t.shape.length !== spec.shape.length || t.shape.some((d, j) => d !== spec.shape[j])) {
      throw new ModelPackageError(
        'bad_variant',
        `variant tensor ${i} is ${t.name} [${t.shape.join(', ')}] but the model expects ${spec.name} [${spec.shape.join(', ')}]`,
      );
    }
    return t.data;
  });
}
