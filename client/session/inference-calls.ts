/**
 * `Flock.predict` and `Flock.record`: the app's two inference verbs, thin
 * over the model session. predict() answers from the running predictor, then
 * feeds telemetry and (sampled) the shadow comparison; record() stores a
 * labelled example (the version's preprocessing applied, the target typed by
 * its output kind) and feeds labelled-feedback telemetry.
 */
import type { Flock } from '../connect-types.ts';
import { recordExample } from '../inference/index.ts';
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
      if (shadow.running) void shadow.compare(input, result);
      return result;
    },
    record: async (input, target) => {
      const { current, predictor } = session.live();
      await recordExample(
        {
          app,
          store,
          model: current.model,
          modelSpec: current.stored.modelSpec,
          predictor,
          ...(telemetry.on ? { telemetry: telemetry.recorder } : {}),
        },
        input,
        target,
      );
    },
  };
}
