/**
 * Validation of one uploaded update against its round's model: decodable
 * (with limits derived from the model, so a hostile header cannot make us
 * allocate), the same tensor names and shapes, all finite, and within the
 * task's clip norm. Pure: bytes in, aligned Float32Arrays out, or an ApiError.
 *
 * A version whose spec freezes layers takes exactly its trainable weights:
 * an update carrying a frozen layer's tensor, or lacking a trainable one, is
 * refused. The frozen set comes from the version's spec (frozen-layers.ts),
 * never from the device. The deltas come back aligned to all the version's
 * weights, zeros for the frozen ones, so the round's sum keeps the version's
 * layout; publishing copies the frozen weights from the parent bit for bit.
 */
import { CodecError, decodeTensors } from '../../shared/codec/index.ts';
import { globalL2Norm } from '../../shared/dp/index.ts';
import { isFrozenWeight, trainableWeightSpecs, type WeightSpec } from '../../shared/model/index.ts';
import type { UpdateEncoding } from '../../shared/protocol/index.ts';
import { ApiError } from '../http/api-error.ts';
import { hostCrc32c } from '../http/native-crc32c.ts';

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Largest byte size a valid update for these specs can have (fp32 + top-k indices + table). */
export function maxUpdateBytes(specs: readonly WeightSpec[]): number {
  const params = specs.reduce((n, s) => n + sizeOf(s.shape), 0);
  return params * 8 + specs.length * 1024 + 4096;
}

/** Relative slack over clipNorm for lossy encodings (quantization can grow the norm slightly). */
function normSlack(encoding: UpdateEncoding): number {
  if (encoding.encoding === 'fp32') return 1e-4;
  if (encoding.encoding === 'fp16') return 2e-3;
  return 0.05;
}

/**
 * The largest update norm the coordinator accepts (and bounds the sum with).
 * With local DP each client adds N(0, (localNoiseMultiplier * clipNorm)^2) per
 * coordinate after clipping, so the norm grows by about sigma * sqrt(params);
 * sigma * (sqrt(params) + 6) bounds it except with probability < 1e-7
 * (Gaussian norm concentration: P(|z| > sqrt(d) + t) <= exp(-t^2 / 2)).
 */
export function updateNormBound(clipNorm: number, localNoiseMultiplier: number | undefined, params: number): number {
  if (!localNoiseMultiplier) return clipNorm;
  return clipNorm + localNoiseMultiplier * clipNorm * (Math.sqrt(params) + 6);
}

const frozenHint = (frozen: ReadonlySet<string>) =>
  frozen.size > 0 ? ` (layers ${[...frozen].join(', ')} are frozen: send only the trainable weights)` : '';

/**
 * @param specs all the version's weights, in its order
 * @param frozenLayers the layers the version's spec freezes (their tensors must be absent)
 * @example
 * const { deltas, norm } = validateUpdate(bytes, version.weightSpecs, { clipNorm: 1, encoding: plan.updateEncoding });
 */
export function validateUpdate(
  bytes: Uint8Array,
  allSpecs: readonly WeightSpec[],
  bound: { clipNorm: number; encoding: UpdateEncoding },
  frozenLayers: ReadonlySet<string> = new Set(),
): { deltas: Float32Array[]; norm: number } {
  const specs = trainableWeightSpecs(allSpecs, frozenLayers);
  if (specs.length === 0)
    throw new ApiError('unprocessable', "the round's model freezes every layer with weights; no update can train it");
  const maxPerTensor = Math.max(...specs.map((s) => sizeOf(s.shape)));
  const total = specs.reduce((n, s) => n + sizeOf(s.shape), 0);
  let tensors;
  try {
    tensors = decodeTensors(bytes, {
      maxTensors: specs.length,
      maxElementsPerTensor: maxPerTensor,
      maxTotalElements: total,
      allowNonFinite: false,
      crc32c: hostCrc32c,
    });
  } catch (error) {
    if (error instanceof CodecError && error.code === 'non_finite') {
      throw new ApiError('non_finite', 'the update contains NaN or Infinity; check the local training for divergence', {
        codec: error.code,
      });
    }
    // The limits come from the model, so exceeding one means more tensors or elements than the model has.
    if (error instanceof CodecError && error.code === 'limit_exceeded') {
      throw new ApiError(
        'shape_mismatch',
        `the update does not fit the round's model: ${error.message}${frozenHint(frozenLayers)}`,
        { codec: error.code },
      );
    }
    if (error instanceof CodecError) {
      throw new ApiError('unprocessable', `the update is not a valid Flock tensor file: ${error.message}`, {
        codec: error.code,
      });
    }
    throw error;
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));
  if (byName.size !== tensors.length) throw new ApiError('shape_mismatch', 'the update names a tensor twice');
  const frozenSent = tensors.map((t) => t.name).filter((n) => isFrozenWeight(n, frozenLayers));
  if (frozenSent.length > 0)
    throw new ApiError(
      'shape_mismatch',
      `the update carries ${frozenSent.join(', ')} of a frozen layer${frozenHint(frozenLayers)}`,
      { frozen: frozenSent },
    );
  const deltas: Float32Array[] = [];
  for (const spec of specs) {
    const t = byName.get(spec.name);
    if (!t)
      throw new ApiError(
        'shape_mismatch',
        `the update lacks tensor "${spec.name}"; send a delta for every trainable weight of the round's model`,
        { missing: spec.name },
      );
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      throw new ApiError(
        'shape_mismatch',
        `tensor "${spec.name}" has shape [${t.shape}] but the model has [${spec.shape}]`,
        { name: spec.name, expected: spec.shape, got: t.shape },
      );
    }
    deltas.push(t.data);
  }
  if (tensors.length !== specs.length) {
    const extra = tensors.map((t) => t.name).filter((n) => !specs.some((s) => s.name === n));
    throw new ApiError('shape_mismatch', `the update has tensors the model lacks: ${extra.join(', ')}`, { extra });
  }
  const norm = globalL2Norm(deltas);
  if (!Number.isFinite(norm)) throw new ApiError('non_finite', 'the update norm is not finite');
  if (norm > bound.clipNorm * (1 + normSlack(bound.encoding))) {
    throw new ApiError(
      'norm_exceeded',
      `the update's L2 norm ${norm.toPrecision(6)} exceeds the task's clip norm ${bound.clipNorm}; clip before uploading`,
      { norm, clipNorm: bound.clipNorm },
    );
  }
  if (specs.length === allSpecs.length) return { deltas, norm };
  // The round's sum spans every weight of the version: the frozen ones add zeros.
  const trained = new Map(specs.map((s, i) => [s.name, deltas[i]]));
  return { deltas: allSpecs.map((s) => trained.get(s.name) ?? new Float32Array(sizeOf(s.shape))), norm };
}
