/**
 * The version metadata a model ships with besides its weights: how raw inputs
 * become features (`preprocess`, see shared/preprocess), what its outputs mean
 * (`output`) and which layers local training leaves alone (`frozenLayers`).
 *
 * In a model directory it is the file `flock-model.json` next to model.json;
 * `flock model push` stores it with the version and the signed manifest
 * carries its SHA-256, so a device refuses a spec the coordinator did not sign.
 */
import { z } from 'zod';
import { PreprocessSpecSchema } from '../preprocess/spec.ts';

/** The file name of the spec inside a model directory, next to model.json. */
export const MODEL_SPEC_FILE = 'flock-model.json';

export const MODEL_SPEC_VERSION = 1;

const LabelSchema = z.string().min(1).max(256);
/** A decision threshold on a sigmoid output: strictly between 0 and 1. */
const ThresholdSchema = z.number().gt(0).lt(1);

/** Softmax over classes; the prediction is the argmax, `labels[i]` names class i. */
export const MulticlassOutputSchema = z.strictObject({
  kind: z.literal('multiclass'),
  labels: z.array(LabelSchema).min(2).max(100_000).optional(),
});

/** One sigmoid unit: the probability of the positive class, positive when >= `threshold`. */
export const BinaryOutputSchema = z.strictObject({
  kind: z.literal('binary'),
  threshold: ThresholdSchema.default(0.5),
  /** [negative, positive] names, e.g. ['ham', 'spam']. */
  labels: z.tuple([LabelSchema, LabelSchema]).optional(),
});

/** One sigmoid per label: each label applies when its probability is >= `threshold`. */
export const MultilabelOutputSchema = z.strictObject({
  kind: z.literal('multilabel'),
  threshold: ThresholdSchema.default(0.5),
  labels: z.array(LabelSchema).min(1).max(100_000),
});

/** One real value per output unit (a linear head), judged by mean absolute error. */
export const RegressionOutputSchema = z.strictObject({
  kind: z.literal('regression'),
});

/** What the model's outputs mean; decides `Prediction`, `record`'s target and the canary metric. */
export const OutputSpecSchema = z.discriminatedUnion('kind', [
  MulticlassOutputSchema,
  BinaryOutputSchema,
  MultilabelOutputSchema,
  RegressionOutputSchema,
]);
export type OutputSpec = z.infer<typeof OutputSpecSchema>;
export type OutputSpecInput = z.input<typeof OutputSpecSchema>;
export type OutputKind = OutputSpec['kind'];

/** The output of a model without a spec (and the default of one that omits `output`). */
export const DEFAULT_OUTPUT_SPEC: OutputSpec = { kind: 'multiclass' };

/**
 * The contents of `flock-model.json`.
 *
 * @example
 * const spec = ModelSpecSchema.parse({
 *   version: 1,
 *   preprocess: { version: 1, input: { kind: 'text', encoding: { type: 'hashing', dimensions: 4096 }, output: { type: 'bag' } } },
 *   output: { kind: 'binary', threshold: 0.7, labels: ['ham', 'spam'] },
 * });
 */
export const ModelSpecSchema = z.strictObject({
  version: z.literal(MODEL_SPEC_VERSION),
  preprocess: PreprocessSpecSchema.optional(),
  output: OutputSpecSchema.default(DEFAULT_OUTPUT_SPEC),
  /** Layer names (model.json `config.name`) local training keeps fixed and does not upload. */
  frozenLayers: z.array(z.string().min(1).max(256)).max(10_000).optional(),
});
export type ModelSpec = z.infer<typeof ModelSpecSchema>;
export type ModelSpecInput = z.input<typeof ModelSpecSchema>;
