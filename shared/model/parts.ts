/**
 * A LayersModel as plain data (topology JSON, weight specs, Float32Arrays) and
 * back. This is the form weights travel in between the registry, the
 * aggregator and the training worker: no tensors to dispose, transferable
 * buffers, and a topology that can be hashed.
 */
import * as tf from '@tensorflow/tfjs';

/** Name and shape of one weight tensor, in the model's `weights` order. */
export interface WeightSpec {
  name: string;
  shape: number[];
}

/** A JSON object as found in model.json's `modelTopology`. */
export type ModelTopology = { [key: string]: unknown };

/** A model taken apart: topology without weights, specs and float32 values. */
export interface ModelParts {
  topology: ModelTopology;
  weightSpecs: WeightSpec[];
  weights: Float32Array[];
}

export type ModelPartsErrorCode = 'weights_mismatch' | 'non_finite_weights' | 'load_failed';

/** Thrown when parts do not describe a loadable model. */
export class ModelPartsError extends Error {
  readonly code: ModelPartsErrorCode;
  constructor(code: ModelPartsErrorCode, message: string) {
    super(message);
    this.name = 'ModelPartsError';
    this.code = code;
  }
}

/** Number of elements of a tensor with this shape. */
export function sizeOfShape(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

/**
 * Check that `weights` line up with `weightSpecs` and are all finite.
 * @throws ModelPartsError ('weights_mismatch' | 'non_finite_weights')
 */
export function assertWeightsMatchSpecs(weightSpecs: readonly WeightSpec[], weights: readonly Float32Array[]): void {
  if (weights.length !== weightSpecs.length) {
    throw new ModelPartsError(
      'weights_mismatch',
      `got ${weights.length} weight arrays for ${weightSpecs.length} weight specs; send one array per spec, in order`,
    );
  }
  weightSpecs.forEach((spec, i) => {
    const expected = sizeOfShape(spec.shape);
    const data = weights[i];
    if (data.length !== expected) {
      throw new ModelPartsError(
        'weights_mismatch',
        `weight ${spec.name} has ${data.length} values but its shape [${spec.shape.join(', ')}] needs ${expected}`,
      );
    }
    for (let j = 0; j < data.length; j++) {
      if (!Number.isFinite(data[j])) {
        throw new ModelPartsError(
          'non_finite_weights',
          `weight ${spec.name} holds ${data[j]} at index ${j}; weights must be finite`,
        );
      }
    }
  });
}

/**
 * Build a LayersModel from parts. Weights are checked against the specs and
 * must be finite.
 *
 * @example
 * const parts = partsFromModel(model);
 * const copy = await modelFromParts(parts);
 */
export async function modelFromParts(parts: ModelParts): Promise<tf.LayersModel> {
  assertWeightsMatchSpecs(parts.weightSpecs, parts.weights);
  const total = parts.weights.reduce((n, w) => n + w.length, 0);
  const flat = new Float32Array(total);
  let at = 0;
  for (const w of parts.weights) {
    flat.set(w, at);
    at += w.length;
  }
  const specs: tf.io.WeightsManifestEntry[] = parts.weightSpecs.map((s) => ({
    name: s.name,
    shape: s.shape,
    dtype: 'float32',
  }));
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: parts.topology, weightSpecs: specs, weightData: flat.buffer }),
    );
  } catch (err) {
    throw new ModelPartsError(
      'load_failed',
      `tfjs could not build the model from its topology and weights: ${(err as Error).message}`,
    );
  }
}

/**
 * Take a LayersModel apart. The topology is `model.toJSON(null, false)`, the
 * same object tfjs writes as `modelTopology`; weight names are the layer
 * variables' original names (e.g. `dense1/kernel`), as in model.json.
 *
 * @example
 * const { topology, weightSpecs, weights } = partsFromModel(model);
 */
export function partsFromModel(model: tf.LayersModel): ModelParts {
  const topology = model.toJSON(null, false) as ModelTopology;
  // getWeights returns the variables themselves (not clones): read, never dispose.
  const tensors = model.getWeights();
  const weightSpecs = model.weights.map((v, i) => ({ name: v.originalName, shape: [...tensors[i].shape] }));
  const weights = tensors.map((t) => {
    const values = t.dataSync();
    // A copy: dataSync may hand back the backend's own storage.
    return values instanceof Float32Array ? values.slice() : Float32Array.from(values);
  });
  return { topology, weightSpecs, weights };
}

/** Total number of weight values (parameters) in a list of specs. */
export function countParams(weightSpecs: readonly WeightSpec[]): number {
  return weightSpecs.reduce((n, s) => n + sizeOfShape(s.shape), 0);
}
