/**
 * One client's part of a federated round, as plain data in and bytes out:
 * train the round's global model on local examples for the plan's epochs,
 * take the delta `local - global`, clip it to the plan's L2 bound, add local
 * DP noise if the plan asks for it, and encode it in the plan's update
 * encoding. Platform-neutral (tfjs only), so the browser training worker,
 * Node clients and `flock simulate` share it.
 *
 * Layers the version's spec freezes (`frozenLayers`) are set non-trainable
 * before compiling, so the optimizer never touches them, and their tensors
 * are left out of the delta, the clip norm and the encoded update: an update
 * of a model with a frozen base is the size of its head.
 */
import * as tf from '@tensorflow/tfjs';
import { ErrorFeedback, encodeTensors, type NamedTensor, type TensorEncodingSpec } from '../../shared/codec/index.ts';
import { addGaussianNoise, clipByGlobalNorm } from '../../shared/dp/index.ts';
import {
  compileForTraining,
  isFrozenWeight,
  modelFromParts,
  outputTraining,
  sizeOfShape,
  type ModelTopology,
  type WeightSpec,
} from '../../shared/model/index.ts';
import type { OutputKind, TaskPlan, UpdateEncoding, UpdateEncodingName } from '../../shared/protocol/index.ts';

/**
 * Labelled local examples: `x` holds `count * prod(inputShape)` values; `y`
 * one class index per example (multiclass, the default), or `targetWidth`
 * values per example for the other output kinds (binary 0/1, multilabel 0/1
 * per label, regression values).
 */
export interface TrainingExamples {
  x: Float32Array;
  y: Uint8Array | Int32Array | Float32Array;
  count: number;
  /** Shape of one example without the batch dimension, e.g. [784]. */
  inputShape: number[];
  /** The model spec's output kind (default 'multiclass'): picks the loss and how `y` is read. */
  output?: OutputKind;
  /** Values of `y` per example for kinds other than multiclass (default 1). */
  targetWidth?: number;
}

export interface LocalTrainingInput {
  topology: ModelTopology;
  /** Names and shapes of `globalWeights`, in the same order. */
  weightSpecs: WeightSpec[];
  globalWeights: Float32Array[];
  examples: TrainingExamples;
  plan: Pick<
    TaskPlan,
    'localEpochs' | 'batchSize' | 'learningRate' | 'clipNorm' | 'localNoiseMultiplier' | 'updateEncoding'
  >;
  /**
   * Layer names the version's spec freezes (`ModelSpec.frozenLayers`): trained
   * as non-trainable and absent from the update. Omit (or []) to train all.
   */
  frozenLayers?: readonly string[];
  /** Carries what lossy encodings dropped into the next round; keep one per device and task. */
  errorFeedback?: ErrorFeedback;
}

/** The encoded update and the fields of its `UpdateMeta` (the caller adds roundId and deviceId). */
export interface LocalUpdate {
  bytes: Uint8Array;
  numExamples: number;
  /** L2 norm of what was clipped: the delta, plus the error-feedback residual when one is used. */
  preClipNorm: number;
  trainLoss: number;
  /** NaN for regression, which reports `trainMae` instead. */
  trainAccuracy: number;
  /** Mean absolute error on the last epoch (regression only, else NaN). */
  trainMae: number;
  epochs: number;
  encoding: UpdateEncodingName;
  backend: string;
  durationMs: number;
}

function encodingSpec(encoding: UpdateEncoding): TensorEncodingSpec {
  return encoding.encoding === 'topk'
    ? { encoding: 'topk', topkFraction: encoding.topkFraction, topkValues: encoding.topkValues ?? 'fp32' }
    : { encoding: encoding.encoding };
}

function lastEpoch(history: tf.History, keys: string[]): number {
  for (const key of keys) {
    const values = history.history[key];
    if (values && values.length > 0) return Number(values[values.length - 1]);
  }
  return Number.NaN;
}

function checkExamples(examples: TrainingExamples): void {
  const size = sizeOfShape(examples.inputShape);
  if (!Number.isInteger(examples.count) || examples.count < 1) {
    throw new RangeError(
      `examples.count must be a positive integer, got ${examples.count}; record examples before training`,
    );
  }
  const width = outputTraining(examples.output).classIndices ? 1 : (examples.targetWidth ?? 1);
  if (examples.x.length < examples.count * size || examples.y.length < examples.count * width) {
    throw new RangeError(
      `examples hold ${examples.x.length} values and ${examples.y.length} labels, too few for ${examples.count} examples of shape [${examples.inputShape.join(', ')}]`,
    );
  }
}

/** Reads the trained weights by name (the model's own order need not match the specs'). */
async function trainedWeights(model: tf.LayersModel, specs: readonly WeightSpec[]): Promise<Float32Array[]> {
  const byName = new Map(model.weights.map((v) => [v.originalName, v] as const));
  return Promise.all(
    specs.map(async (spec) => {
      const variable = byName.get(spec.name);
      if (!variable)
        throw new Error(
          `the model built from the topology has no weight "${spec.name}"; the topology and global weights belong to different models`,
        );
      const values = await variable.read().data();
      return values instanceof Float32Array ? values : Float32Array.from(values);
    }),
  );
}

/**
 * Trains from the global weights and returns the clipped, encoded delta.
 * Every tensor it creates is disposed before it returns.
 *
 * @example
 * const update = await trainLocalUpdate({ topology, weightSpecs, globalWeights, examples, plan });
 * await transport.uploadUpdate(roundId, update.bytes, { roundId, deviceId, ...metaOf(update) });
 */
export async function trainLocalUpdate(input: LocalTrainingInput): Promise<LocalUpdate> {
  const started = performance.now();
  const { examples, plan } = input;
  checkExamples(examples);
  const size = sizeOfShape(examples.inputShape);
  const frozen = new Set(input.frozenLayers ?? []);
  // Only the trainable weights exist for the update: the frozen ones are neither diffed, clipped nor sent.
  const kept = input.weightSpecs.flatMap((spec, i) => (isFrozenWeight(spec.name, frozen) ? [] : [i]));
  if (kept.length === 0)
    throw new RangeError(
      'frozenLayers freezes every layer with weights, so there is nothing to train; unfreeze the head',
    );
  const weightSpecs = kept.map((i) => input.weightSpecs[i]);
  const globalWeights = kept.map((i) => input.globalWeights[i]);
  const model = await modelFromParts({
    topology: input.topology,
    weightSpecs: input.weightSpecs,
    weights: input.globalWeights,
  });
  let local: Float32Array[];
  let history: tf.History;
  const xs = tf.tensor(
    examples.x.subarray(0, examples.count * size),
    [examples.count, ...examples.inputShape],
    'float32',
  );
  const training = outputTraining(examples.output);
  const width = examples.targetWidth ?? 1;
  const ys = training.classIndices
    ? tf.tensor1d(Float32Array.from(examples.y.subarray(0, examples.count)), 'float32')
    : tf.tensor2d(
        Float32Array.from(examples.y.subarray(0, examples.count * width)),
        [examples.count, width],
        'float32',
      );
  try {
    freezeLayers(model, frozen);
    compileForTraining(model, plan.learningRate, examples.output);
    history = await model.fit(xs, ys, {
      epochs: plan.localEpochs,
      batchSize: plan.batchSize,
      shuffle: true,
      verbose: 0,
    });
    local = await trainedWeights(model, weightSpecs);
  } finally {
    xs.dispose();
    ys.dispose();
    // The model does not own an optimizer passed to compile() as an object, so it would leak its scalars.
    model.optimizer?.dispose();
    model.dispose();
  }

  const delta = local.map((w, i) => {
    const d = new Float32Array(w.length);
    const g = globalWeights[i];
    for (let j = 0; j < d.length; j++) d[j] = w[j] - g[j];
    return d;
  });
  // Clip delta + residual, not the delta alone: what is sent must stay within
  // clipNorm (the sensitivity bound the coordinator enforces) after feedback.
  const residual = input.errorFeedback?.residual();
  const toClip = residual ? delta.map((d, i) => addInto(d, residual.get(weightSpecs[i].name))) : delta;
  const { tensors: clipped, preClipNorm } = clipByGlobalNorm(toClip, plan.clipNorm);
  if (plan.localNoiseMultiplier !== undefined && plan.localNoiseMultiplier > 0) {
    for (const t of clipped) addGaussianNoise(t, plan.localNoiseMultiplier * plan.clipNorm);
  }

  const spec = encodingSpec(plan.updateEncoding);
  let bytes: Uint8Array;
  if (input.errorFeedback && residual) {
    // ErrorFeedback adds its residual itself; hand it (clipped - residual) so that what it encodes is `clipped`.
    const update: NamedTensor[] = clipped.map((c, i) => ({
      name: weightSpecs[i].name,
      shape: weightSpecs[i].shape,
      data: subtract(c, residual.get(weightSpecs[i].name)),
    }));
    bytes = input.errorFeedback.encode(update, spec);
  } else {
    bytes = encodeTensors(
      clipped.map((data, i) => ({ name: weightSpecs[i].name, shape: weightSpecs[i].shape, data })),
      spec,
    );
  }
  return {
    bytes,
    numExamples: examples.count,
    preClipNorm,
    trainLoss: lastEpoch(history, ['loss']),
    trainAccuracy: lastEpoch(history, ['acc', 'accuracy']),
    trainMae: lastEpoch(history, ['mae', 'meanAbsoluteError']),
    epochs: plan.localEpochs,
    encoding: plan.updateEncoding.encoding,
    backend: tf.getBackend(),
    durationMs: performance.now() - started,
  };
}

/**
 * Marks the named layers non-trainable before compile (tfjs collects the
 * trainable weights when it builds the training function).
 * @throws RangeError naming a layer the model lacks, so a spec and a model that disagree fail loudly
 */
function freezeLayers(model: tf.LayersModel, frozen: ReadonlySet<string>): void {
  if (frozen.size === 0) return;
  const names = new Set(model.layers.map((l) => l.name));
  const missing = [...frozen].filter((n) => !names.has(n));
  if (missing.length > 0)
    throw new RangeError(
      `frozenLayers names ${missing.join(', ')}, which the model lacks (layers: ${[...names].join(', ')}); the spec and the topology belong to different models`,
    );
  for (const layer of model.layers) if (frozen.has(layer.name)) layer.trainable = false;
}

function addInto(a: Float32Array, b: Float32Array | undefined): Float32Array {
  if (!b) return a;
  if (b.length !== a.length)
    throw new RangeError(
      `error-feedback residual has ${b.length} values for a tensor of ${a.length}; call errorFeedback.reset() when the model changes`,
    );
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

function subtract(a: Float32Array, b: Float32Array | undefined): Float32Array {
  if (!b) return a;
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}
