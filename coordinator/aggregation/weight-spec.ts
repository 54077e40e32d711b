/**
 * Model layout (`WeightSpec[]`) and the checks every update must pass against
 * it before it touches an aggregate: one bad client must fail alone, never
 * poison a round's sum.
 */
import { AggregationError } from './errors.ts';

/** One tensor of a model: its name and shape. Weights and deltas are `Float32Array[]` aligned with the specs. */
export interface WeightSpec {
  name: string;
  shape: number[];
}

/**
 * Number of values of each tensor, validating the specs.
 *
 * @example
 * tensorSizes([{ name: 'dense/kernel', shape: [784, 10] }]) // [7840]
 */
export function tensorSizes(specs: readonly WeightSpec[]): number[] {
  if (specs.length === 0) throw new AggregationError('bad-spec', 'the model has no tensors; pass its WeightSpec[]');
  return specs.map((spec) => {
    const ok = spec.shape.every((d) => Number.isInteger(d) && d >= 0);
    if (!ok)
      throw new AggregationError('bad-spec', `tensor ${spec.name} has an invalid shape [${spec.shape.join(', ')}]`, {
        name: spec.name,
      });
    return spec.shape.reduce((a, b) => a * b, 1);
  });
}

/**
 * Throws an `AggregationError` unless `tensors` has one array per spec, each
 * of the spec's length. `what` names the input in the message ("update", "globals").
 */
export function assertAligned(
  tensors: readonly Float32Array[],
  specs: readonly WeightSpec[],
  sizes: readonly number[],
  what: string,
): void {
  if (!Array.isArray(tensors) || tensors.length !== specs.length) {
    throw new AggregationError(
      'tensor-count-mismatch',
      `${what} has ${Array.isArray(tensors) ? tensors.length : 'no'} tensors; the model has ${specs.length}`,
      {
        expected: specs.length,
        actual: Array.isArray(tensors) ? tensors.length : null,
      },
    );
  }
  for (let i = 0; i < specs.length; i++) {
    const t = tensors[i];
    if (!(t instanceof Float32Array) || t.length !== sizes[i]) {
      throw new AggregationError(
        'tensor-length-mismatch',
        `${what} tensor ${i} (${specs[i].name}) has ${t instanceof Float32Array ? t.length : 'no Float32Array of'} values; shape [${specs[i].shape.join(', ')}] needs ${sizes[i]}`,
        { tensor: specs[i].name, expected: sizes[i], actual: t instanceof Float32Array ? t.length : null },
      );
    }
  }
}

/** Global L2 norm of a list of tensors, accumulated in float64. */
export function globalNorm(tensors: readonly Float32Array[]): number {
  let sq = 0;
  for (const t of tensors) for (let i = 0; i < t.length; i++) sq += t[i] * t[i];
  return Math.sqrt(sq);
}
