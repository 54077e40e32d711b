/**
 * Platform-neutral tfjs glue shared by the coordinator and the browser client:
 * models as plain parts, accuracy evaluation, and the MNIST model zoo.
 * Imports tfjs only; no Node APIs, no DOM.
 */
export {
  ModelPartsError,
  assertWeightsMatchSpecs,
  countParams,
  modelFromParts,
  partsFromModel,
  sizeOfShape,
} from './parts.ts';
export type { ModelParts, ModelPartsErrorCode, ModelTopology, WeightSpec } from './parts.ts';
export { evaluateAccuracy } from './evaluate.ts';
export type { AccuracyResult, LabelledExamples } from './evaluate.ts';
export { compileForTraining, createMnistModel, mnistInputShape } from './mnist-models.ts';
export type { MnistModelKind, MnistModelOptions } from './mnist-models.ts';
export { outputTraining, type OutputTraining } from './output-training.ts';
export { isFrozenWeight, layerOfWeight, trainableWeightSpecs } from './trainable-weights.ts';
