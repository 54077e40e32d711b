/**
 * `Flock.predict` and `Flock.record`: the app's two inference verbs, thin
 * over the model session. predict() answers from the running predictor, then
 * feeds telemetry and (sampled) the shadow comparison; record() stores a
 * labelled example and feeds labelled-feedback telemetry.
 */
import type { Flock } from '../connect-types.ts';
import { exampleLayout, toExampleVector } from '../inference/index.ts';
import type { ClientStore } from '../storage/index.ts';
import type { ModelSession } from './model-session.ts';
import type { ShadowRunner } from './shadow-runner.ts';
import type { TelemetryPump } from './telemetry-pump.ts';

export interface InferenceCallsOptions {
  app: string;
  store: ClientStore;
  session: ModelSession;
  telemetry: TelemetryPump;
  shadow: ShadowRunner;
}

/** The predict/record pair connect() returns. */
export function inferenceCalls(o: InferenceCallsOptions): Pick<Flock, 'predict' | 'record'> {
  const { app, store, session, telemetry, shadow } = o;
  return {
    predict: async (input) => {
      const result = await session.live().predictor.predict(input);
      if (telemetry.on)
        telemetry.recorder.prediction(
          result,
          session.backend,
          input instanceof Float32Array || Array.isArray(input) ? input : undefined,
        );
      if (shadow.running) void shadow.compare(input, result).catch(() => {});
      return result;
    },
    record: async (input, label) => {
      const { current, predictor } = session.live();
      const vector = await toExampleVector(input, exampleLayout(current.stored.inputSpec));
      await store.addExample(app, vector, label);
      // Labelled feedback: was the running model right? (Usually a cache hit: the app just predicted this input.)
      if (telemetry.on) telemetry.recorder.feedback((await predictor.predict(vector)).label, label);
    },
  };
}
