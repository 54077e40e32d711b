/**
 * On-device inference: validated inputs, micro-batching, a result cache and
 * latency / confidence telemetry.
 *
 * @example
 * const predictor = createPredictor({ model, inputSpec: manifest.inputSpec });
 * const { label } = await predictor.predict(imageData);
 */
export { createPredictor } from './predictor.ts';
export type { Prediction, Predictor, PredictorOptions, PredictorStats, RunBatch } from './predictor.ts';
export { exampleLayout, toExampleVector } from './input.ts';
export type { ExampleLayout, ImageDataLike, PredictInput, PredictInputSpec } from './input.ts';
export { FlockInputError } from './input-error.ts';
export type { FlockInputErrorCode } from './input-error.ts';
export { inputKey, LruCache } from './result-cache.ts';
export { readPrediction } from './prediction-output.ts';
export type {
  BinaryPrediction,
  MulticlassPrediction,
  MultilabelPrediction,
  PredictionReading,
  RegressionPrediction,
} from './prediction-output.ts';
export { isFeatureInput, rawInputReader } from './raw-input.ts';
export type { RawInput, RawInputReader } from './raw-input.ts';
export { exampleTarget, targetWidth, trainingTargets } from './record-target.ts';
export type { ExampleTarget, RecordTarget } from './record-target.ts';
export { recordExample, type RecordExampleContext } from './record-example.ts';
