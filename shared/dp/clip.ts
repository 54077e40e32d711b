/**
 * Global-L2-norm clipping of a model update (a set of tensors), the step that
 * bounds one client's contribution (the sensitivity that DP noise is scaled to).
 * Norms accumulate in float64: a float32 sum over ~1M squares loses digits.
 */
import { DpParameterError, requireFinite } from './parameter-error.ts';

/**
 * The shrink applied on top of clipNorm / norm so that the clipped float32
 * tensors' norm never exceeds clipNorm: rounding each element to float32 can
 * raise the norm by up to 2^-24 relative, which would break the sensitivity
 * bound (and a coordinator's norm check) by a hair.
 */
const FLOAT32_ROUNDING_MARGIN = 1 - 2 ** -22;

/**
 * L2 norm of all elements of all tensors together.
 *
 * @example
 * globalL2Norm([new Float32Array([3]), new Float32Array([4])]); // 5
 */
export function globalL2Norm(tensors: Float32Array[]): number {
  let sumOfSquares = 0;
  for (const tensor of tensors) {
    for (let i = 0; i < tensor.length; i++) sumOfSquares += tensor[i] * tensor[i];
  }
  return Math.sqrt(sumOfSquares);
}

function clipScale(tensors: Float32Array[], clipNorm: number): { preClipNorm: number; scale: number } {
  requireFinite('clipNorm', clipNorm);
  if (clipNorm <= 0) throw new DpParameterError('clipNorm', `must be > 0, got ${clipNorm}`);
  const preClipNorm = globalL2Norm(tensors);
  if (!Number.isFinite(preClipNorm)) {
    throw new DpParameterError('tensors', 'contain NaN or Infinity; reject the update instead of clipping it');
  }
  const scale = preClipNorm <= clipNorm ? 1 : (clipNorm / preClipNorm) * FLOAT32_ROUNDING_MARGIN;
  return { preClipNorm, scale };
}

/**
 * Scales the tensors (as one vector) so that their global L2 norm is at most
 * `clipNorm`; returns new arrays, the norm before clipping and the factor used
 * (1 when no clipping was needed).
 *
 * @example
 * const { tensors, preClipNorm, scale } = clipByGlobalNorm([new Float32Array([3, 4])], 1);
 * // preClipNorm = 5, scale ~ 0.2, tensors[0] ~ [0.6, 0.8]
 */
export function clipByGlobalNorm(
  tensors: Float32Array[],
  clipNorm: number,
): { tensors: Float32Array[]; preClipNorm: number; scale: number } {
  const { preClipNorm, scale } = clipScale(tensors, clipNorm);
  const clipped = tensors.map((tensor) => {
    const out = new Float32Array(tensor.length);
    for (let i = 0; i < tensor.length; i++) out[i] = tensor[i] * scale;
    return out;
  });
  return { tensors: clipped, preClipNorm, scale };
}

/**
 * As `clipByGlobalNorm`, but scales the given arrays in place (no allocation,
 * for large updates on memory-tight devices).
 *
 * @example
 * const update = [new Float32Array([3, 4])];
 * clipByGlobalNormInPlace(update, 1); // update[0] ~ [0.6, 0.8]
 */
export function clipByGlobalNormInPlace(
  tensors: Float32Array[],
  clipNorm: number,
): { preClipNorm: number; scale: number } {
  const result = clipScale(tensors, clipNorm);
  if (result.scale !== 1) {
    for (const tensor of tensors) {
      for (let i = 0; i < tensor.length; i++) tensor[i] *= result.scale;
    }
  }
  return result;
}
