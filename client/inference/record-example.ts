/**
 * `record(input, target)`: the example as the model will train on it (the
 * version's preprocessing applied once, here, so local training reads stored
 * features and never re-runs it), its target checked against the output kind,
 * both kept on the device; then labelled feedback for the canary: right or
 * wrong for classifiers, the absolute error for regression.
 */
import type * as tf from '@tensorflow/tfjs';
import { DEFAULT_OUTPUT_SPEC, type ModelSpec } from '../../shared/protocol/model-spec.ts';
import type { ClientStore } from '../storage/index.ts';
import type { TelemetryRecorder } from '../telemetry/recorder.ts';
import type { PredictInput } from './input.ts';
import type { Predictor } from './predictor.ts';
import type { RawInput } from './raw-input.ts';
import { exampleTarget, type RecordTarget } from './record-target.ts';

export interface RecordExampleContext {
  app: string;
  store: ClientStore;
  model: tf.LayersModel;
  modelSpec: ModelSpec | undefined;
  predictor: Predictor;
  /** Labelled-feedback telemetry; omitted when telemetry is off. */
  telemetry?: Pick<TelemetryRecorder, 'feedback' | 'absoluteError'>;
}

/**
 * @throws FlockInputError for an input the model cannot take, or a target that does not fit its output kind
 *
 * @example
 * await recordExample(ctx, 'WIN A FREE CRUISE', 'spam');
 */
export async function recordExample(
  ctx: RecordExampleContext,
  input: PredictInput | RawInput,
  target: RecordTarget,
): Promise<void> {
  const output = ctx.modelSpec?.output ?? DEFAULT_OUTPUT_SPEC;
  const units = ctx.model.outputs[0]?.shape.at(-1) ?? 1;
  const features = await ctx.predictor.features(input);
  const { label, target: values } = exampleTarget(target, output, units);
  await ctx.store.addExample(ctx.app, features, label, values);
  if (!ctx.telemetry) return;
  // Usually a cache hit: the app just predicted this input.
  const p = await ctx.predictor.predict(features);
  if (p.kind === 'regression') ctx.telemetry.absoluteError(Math.abs(p.value - (values?.[0] ?? 0)));
  else if (p.kind === 'multilabel') {
    const wanted = values ?? new Float32Array(0);
    const same = p.probabilities.every((q, i) => (q >= p.threshold ? 1 : 0) === wanted[i]);
    ctx.telemetry.feedback(same ? 1 : 0, 1);
  } else ctx.telemetry.feedback(p.label, label);
}
