import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createMnistModel } from './mnist-models.ts';
import { ModelPartsError, countParams, modelFromParts, partsFromModel } from './parts.ts';

beforeAll(async () => {
  tf.env().set('IS_TEST', true); // silences the "use tfjs-node" banner and checks kernels for leaks
  await tf.setBackend('cpu');
});

describe('partsFromModel / modelFromParts', () => {
  it('round-trips topology, specs, weights and predictions', async () => {
    const model = createMnistModel('mlp-small', { seed: 7 });
    const parts = partsFromModel(model);
    expect(parts.weightSpecs).toEqual([
      { name: 'hidden1/kernel', shape: [784, 64] },
      { name: 'hidden1/bias', shape: [64] },
      { name: 'output/kernel', shape: [64, 10] },
      { name: 'output/bias', shape: [10] },
    ]);
    expect(parts.topology).not.toHaveProperty('weightsManifest');
    expect(JSON.stringify(parts.topology)).toContain('hidden1');

    const copy = await modelFromParts(parts);
    const again = partsFromModel(copy);
    expect(again.topology).toEqual(parts.topology);
    expect(again.weights).toEqual(parts.weights);

    const x = tf.randomUniform([5, 784], 0, 1, 'float32', 3);
    const a = model.predict(x) as tf.Tensor;
    const b = copy.predict(x) as tf.Tensor;
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([x, a, b]);
    model.dispose();
    copy.dispose();
  });

  it('returns copies, not views of the model variables', () => {
    const model = createMnistModel('mlp-small', { seed: 1 });
    const first = partsFromModel(model);
    first.weights[0][0] = 12345;
    expect(partsFromModel(model).weights[0][0]).not.toBe(12345);
    model.dispose();
  });

  it('rejects weights that do not fit the specs, and non-finite weights', async () => {
    const model = createMnistModel('mlp-small', { seed: 2 });
    const parts = partsFromModel(model);
    model.dispose();
    const short = { ...parts, weights: parts.weights.slice(1) };
    await expect(modelFromParts(short)).rejects.toMatchObject({ code: 'weights_mismatch' });
    const wrongSize = { ...parts, weights: [parts.weights[0].subarray(1), ...parts.weights.slice(1)] };
    await expect(modelFromParts(wrongSize)).rejects.toThrow(/hidden1\/kernel has 50175 values/);
    const nan = { ...parts, weights: parts.weights.map((w) => w.slice()) };
    nan.weights[2][5] = Number.NaN;
    await expect(modelFromParts(nan)).rejects.toBeInstanceOf(ModelPartsError);
    await expect(modelFromParts(nan)).rejects.toMatchObject({ code: 'non_finite_weights' });
    const badTopology = { ...parts, topology: { class_name: 'NoSuchModel', config: {} } };
    await expect(modelFromParts(badTopology)).rejects.toMatchObject({ code: 'load_failed' });
  });

  it('counts parameters like tfjs', () => {
    const model = createMnistModel('2nn');
    expect(countParams(partsFromModel(model).weightSpecs)).toBe(model.countParams());
    model.dispose();
  });
});
