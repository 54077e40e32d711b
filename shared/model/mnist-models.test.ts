import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileForTraining, createMnistModel, mnistInputShape } from './mnist-models.ts';
import type { MnistModelKind } from './mnist-models.ts';
import { partsFromModel } from './parts.ts';

beforeAll(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});

describe('createMnistModel', () => {
  // Published sizes: McMahan et al. 2017 give 199,210 (2NN) and 1,663,370 (CNN).
  const expected: Array<[MnistModelKind, number]> = [
    ['mlp-small', 50_890],
    ['2nn', 199_210],
    ['cnn', 1_663_370],
  ];
  it.each(expected)('%s has %i parameters and a 10-way softmax', (kind, params) => {
    const model = createMnistModel(kind);
    expect(model.countParams()).toBe(params);
    expect(model.inputs[0].shape).toEqual([null, ...mnistInputShape(kind)]);
    expect(model.outputs[0].shape).toEqual([null, 10]);
    model.dispose();
  });

  it('is reproducible with a seed and gives each layer its own seed', () => {
    const a = partsFromModel(createMnistModel('2nn', { seed: 42 }));
    const b = partsFromModel(createMnistModel('2nn', { seed: 42 }));
    const c = partsFromModel(createMnistModel('2nn', { seed: 43 }));
    expect(a.weights).toEqual(b.weights);
    expect(a.weights[0]).not.toEqual(c.weights[0]);
    // hidden2 and output kernels must not repeat hidden1's random stream.
    expect(a.weights[2].subarray(0, 10)).not.toEqual(a.weights[0].subarray(0, 10));
  });

  it('has the same topology each time it is built in one process', () => {
    const a = createMnistModel('cnn');
    const b = createMnistModel('cnn');
    expect(JSON.stringify(b.toJSON(null, false))).toBe(JSON.stringify(a.toJSON(null, false)));
    a.dispose();
    b.dispose();
  });
});

describe('compileForTraining', () => {
  it('trains on class-index labels and lowers the loss', async () => {
    const model = createMnistModel('mlp-small', { seed: 3 });
    compileForTraining(model, 0.5);
    // A separable toy problem: the label is the index of the brightest of the first 10 pixels.
    const n = 256;
    const x = new Float32Array(n * 784);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const label = i % 10;
      y[i] = label;
      x[i * 784 + label] = 1;
    }
    const xs = tf.tensor2d(x, [n, 784]);
    const ys = tf.tensor1d(y, 'float32');
    const history = await model.fit(xs, ys, { epochs: 6, batchSize: 32, shuffle: false, verbose: 0 });
    const loss = history.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.5);
    tf.dispose([xs, ys]);
    model.dispose();
  });

  it('refuses a non-positive learning rate', () => {
    const model = createMnistModel('mlp-small');
    expect(() => compileForTraining(model, 0)).toThrow(/learningRate/);
    expect(() => compileForTraining(model, Number.NaN)).toThrow(/learningRate/);
    model.dispose();
  });
});
