/**
 * `predict` on raw inputs through a version's model spec, with real tfjs
 * models: the prediction equals the model run on `compilePreprocess(spec)`'s
 * features, bad raw input is a FlockInputError naming the field, and the
 * output is read by the spec's kind (binary threshold, multilabel, regression).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePreprocess } from '../../shared/preprocess/index.ts';
import { ModelSpecSchema, type ModelSpec } from '../../shared/protocol/index.ts';
import { FlockInputError } from './input-error.ts';
import { createPredictor } from './predictor.ts';

const textSpec: ModelSpec = ModelSpecSchema.parse({
  version: 1,
  preprocess: {
    version: 1,
    input: { kind: 'text', charNgrams: [2, 3], encoding: { type: 'hashing', dimensions: 64 }, output: { type: 'bag' } },
  },
  output: { kind: 'binary', threshold: 0.6, labels: ['ham', 'spam'] },
});
const tabularSpec: ModelSpec = ModelSpecSchema.parse({
  version: 1,
  preprocess: {
    version: 1,
    input: {
      kind: 'tabular',
      fields: [
        { name: 'rooms', type: 'numeric', mean: 3, std: 1.5 },
        { name: 'city', type: 'categorical', vocabulary: ['paris', 'lyon'] },
      ],
    },
  },
  output: { kind: 'regression' },
});

const dense = (inputs: number, units: number, activation: 'sigmoid' | 'linear', seed: number) =>
  tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [inputs],
        units,
        activation,
        kernelInitializer: tf.initializers.randomNormal({ seed, stddev: 1 }),
        biasInitializer: tf.initializers.constant({ value: 0.1 }),
      }),
    ],
  });

let textModel: tf.LayersModel;
let tabularModel: tf.LayersModel;
const direct = (model: tf.LayersModel, x: Float32Array) =>
  tf.tidy(() => (model.predict(tf.tensor2d(x, [1, x.length])) as tf.Tensor).dataSync() as Float32Array).slice();

beforeAll(async () => {
  await tf.setBackend('cpu');
  textModel = dense(64, 1, 'sigmoid', 3);
  tabularModel = dense(4, 1, 'linear', 4);
});
afterAll(() => {
  textModel.dispose();
  tabularModel.dispose();
});

describe('predict on raw input through the model spec', () => {
  it('raw text gives the model output on the shared preprocessing, read as binary by the stored threshold', async () => {
    const predictor = createPredictor({
      model: textModel,
      inputSpec: { shape: [null, 64], dtype: 'float32' },
      modelSpec: textSpec,
      cacheSize: 0,
    });
    const texts = [
      'WIN a FREE cruise!!! 🚢',
      'Meeting moved to 3pm, café downstairs',
      'Ünïcödé ｆｕｌｌｗｉｄｔｈ',
      '',
    ];
    const pre = compilePreprocess(textSpec.preprocess);
    for (const text of texts) {
      const features = pre.apply(text);
      const expected = direct(textModel, features)[0];
      const p = await predictor.predict(text);
      if (p.kind !== 'binary') throw new Error(`expected a binary prediction, got ${p.kind}`);
      expect(p.probability).toBeCloseTo(expected, 6);
      expect(p.positive).toBe(expected >= 0.6);
      expect(p.label).toBe(expected >= 0.6 ? 1 : 0);
      expect(p.labelName).toBe(expected >= 0.6 ? 'spam' : 'ham');
      expect(Array.from(await predictor.features(text))).toEqual(Array.from(features));
      // Features passed directly still work and agree.
      const same = await predictor.predict(features);
      expect(same.probabilities[0]).toBeCloseTo(expected, 6);
    }
  });

  it('a record of fields gives the model output on the standardised, one-hot features, read as a regression value', async () => {
    const predictor = createPredictor({
      model: tabularModel,
      inputSpec: { shape: [null, 4], dtype: 'float32' },
      modelSpec: tabularSpec,
    });
    const pre = compilePreprocess(tabularSpec.preprocess);
    for (const record of [{ rooms: 4, city: 'lyon' }, { rooms: '2.5', city: 'berlin' }, { city: 'paris' }]) {
      const expected = direct(tabularModel, pre.apply(record))[0];
      const p = await predictor.predict(record);
      if (p.kind !== 'regression') throw new Error(`expected a regression prediction, got ${p.kind}`);
      expect(p.value).toBeCloseTo(expected, 6);
      expect(Number.isNaN(p.confidence)).toBe(true);
    }
    expect(predictor.stats().confidenceHistogram.counts.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('refuses bad raw input with a FlockInputError naming the field, never a NaN prediction', async () => {
    const tabular = createPredictor({
      model: tabularModel,
      inputSpec: { shape: [null, 4], dtype: 'float32' },
      modelSpec: tabularSpec,
    });
    const bad = await tabular.predict({ rooms: 'many', city: 'paris' }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(FlockInputError);
    expect(bad).toMatchObject({ code: 'bad_raw_input', field: 'rooms' });
    expect((bad as Error).message).toContain('rooms');
    await expect(tabular.predict('a string')).rejects.toBeInstanceOf(FlockInputError);
    await expect(tabular.predict({ rooms: Number.NaN, city: 'paris' })).rejects.toMatchObject({ field: 'rooms' });

    const text = createPredictor({
      model: textModel,
      inputSpec: { shape: [null, 64], dtype: 'float32' },
      modelSpec: textSpec,
    });
    await expect(text.predict({ subject: 'hi' })).rejects.toMatchObject({ code: 'bad_raw_input', field: 'text' });
  });

  it('refuses a spec whose features do not fit the model input', () => {
    expect(() =>
      createPredictor({
        model: tabularModel,
        inputSpec: { shape: [null, 3], dtype: 'float32' },
        modelSpec: tabularSpec,
      }),
    ).toThrow(/4 features.*3/);
  });

  it('an ImageData of another size is resized and normalised by the spec, and equals the model on those features', async () => {
    const spec = ModelSpecSchema.parse({
      version: 1,
      preprocess: { version: 1, input: { kind: 'image', width: 4, height: 4, channels: 1, invert: true } },
      output: { kind: 'multiclass', labels: ['a', 'b', 'c'] },
    });
    const model = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [4, 4, 1] }),
        tf.layers.dense({
          units: 3,
          activation: 'softmax',
          kernelInitializer: tf.initializers.randomNormal({ seed: 5 }),
        }),
      ],
    });
    const predictor = createPredictor({
      model,
      inputSpec: { shape: [null, 4, 4, 1], dtype: 'float32' },
      modelSpec: spec,
    });
    const data = new Uint8ClampedArray(7 * 5 * 4).map((_, i) => (i * 37) % 256);
    const image = { data, width: 7, height: 5 };
    const features = compilePreprocess(spec.preprocess).apply(image);
    const expected = tf.tidy(() => (model.predict(tf.tensor(features, [1, 4, 4, 1])) as tf.Tensor).dataSync().slice());
    const p = await predictor.predict(image);
    expect(p.kind).toBe('multiclass');
    expect(Array.from(p.probabilities)).toEqual(Array.from(expected));
    expect(p.kind === 'multiclass' ? p.labelName : null).toBe(['a', 'b', 'c'][p.label]);
    await expect(predictor.predict({ data: new Uint8ClampedArray(3), width: 7, height: 5 })).rejects.toMatchObject({
      code: 'bad_raw_input',
      field: 'image',
    });
    model.dispose();
  });

  it('reads a multilabel head by its threshold', async () => {
    const model = dense(3, 3, 'sigmoid', 9);
    const spec = ModelSpecSchema.parse({
      version: 1,
      output: { kind: 'multilabel', threshold: 0.5, labels: ['a', 'b', 'c'] },
    });
    const predictor = createPredictor({ model, inputSpec: { shape: [null, 3], dtype: 'float32' }, modelSpec: spec });
    const x = Float32Array.of(1, -2, 0.5);
    const row = direct(model, x);
    const p = await predictor.predict(x);
    if (p.kind !== 'multilabel') throw new Error('expected multilabel');
    expect(p.labels).toEqual(['a', 'b', 'c'].filter((_, i) => row[i] >= 0.5));
    expect(p.scores.b).toBeCloseTo(row[1], 6);
    model.dispose();
  });
});
