/**
 * `recordExample` with a real tfjs model, the memory store and the telemetry
 * recorder: raw input stored as the spec's features, the target typed by the
 * output kind, and the feedback the canary reads (right/wrong, or absolute error).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePreprocess } from '../../shared/preprocess/index.ts';
import { ModelSpecSchema } from '../../shared/protocol/index.ts';
import { createMemoryStore } from '../storage/memory-store.ts';
import { createTelemetryRecorder } from '../telemetry/recorder.ts';
import { createPredictor } from './predictor.ts';
import { recordExample } from './record-example.ts';

const spec = ModelSpecSchema.parse({
  version: 1,
  preprocess: {
    version: 1,
    input: { kind: 'tabular', fields: [{ name: 'rooms', type: 'numeric', mean: 3, std: 1 }] },
  },
  output: { kind: 'regression' },
});
let model: tf.LayersModel;

beforeAll(async () => {
  await tf.setBackend('cpu');
  // value = 2 * standardised rooms + 1
  model = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [1],
        units: 1,
        kernelInitializer: tf.initializers.constant({ value: 2 }),
        biasInitializer: tf.initializers.constant({ value: 1 }),
      }),
    ],
  });
});
afterAll(() => model.dispose());

describe('recordExample', () => {
  it('stores the preprocessed record with its regression target and reports the absolute error', async () => {
    const store = createMemoryStore();
    const telemetry = createTelemetryRecorder();
    const predictor = createPredictor({ model, inputSpec: { shape: [null, 1], dtype: 'float32' }, modelSpec: spec });
    const ctx = { app: 'homes', store, model, modelSpec: spec, predictor, telemetry };
    await recordExample(ctx, { rooms: 5 }, 4.5); // prediction 2 * 2 + 1 = 5, error 0.5
    const [stored] = await store.listExamples('homes');
    expect(Array.from(stored.input)).toEqual(Array.from(compilePreprocess(spec.preprocess).apply({ rooms: 5 })));
    expect(Array.from(stored.target ?? [])).toEqual([4.5]);
    const batch = telemetry.take({ deviceId: 'd1', app: 'homes', modelVersion: 1 });
    const feedback = batch?.events.find((e) => e.type === 'feedback');
    expect(feedback && 'absoluteErrors' in feedback ? feedback.absoluteErrors?.[0] : undefined).toBeCloseTo(0.5, 5);
    await expect(recordExample(ctx, { rooms: 5 }, 'high')).rejects.toMatchObject({ code: 'bad_target' });
    await expect(recordExample(ctx, { rooms: 'five' }, 1)).rejects.toMatchObject({ field: 'rooms' });
    expect(await store.countExamples('homes')).toBe(1);
  });
});
