import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateAccuracy } from './evaluate.ts';
import { createMnistModel } from './mnist-models.ts';
import { modelFromParts, partsFromModel } from './parts.ts';

beforeAll(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});

/** mlp-small wired so that it predicts the index of the largest of the first 10 inputs. */
async function argmaxOfFirstTen(): Promise<tf.LayersModel> {
  const parts = partsFromModel(createMnistModel('mlp-small'));
  const [k1, b1, k2, b2] = parts.weights;
  k1.fill(0);
  b1.fill(0);
  k2.fill(0);
  b2.fill(0);
  for (let i = 0; i < 10; i++) {
    k1[i * 64 + i] = 1; // input i -> hidden i
    k2[i * 10 + i] = 1; // hidden i -> output i
  }
  return modelFromParts(parts);
}

describe('evaluateAccuracy', () => {
  it('computes the exact fraction of correct predictions across uneven batches', async () => {
    const model = await argmaxOfFirstTen();
    const count = 103;
    const x = new Float32Array(count * 784);
    const y = new Uint8Array(count);
    let expectedCorrect = 0;
    for (let i = 0; i < count; i++) {
      const hot = (i * 7) % 10;
      x[i * 784 + hot] = 1 + (i % 3);
      // Every third example gets a wrong label.
      y[i] = i % 3 === 0 ? (hot + 1) % 10 : hot;
      if (y[i] === hot) expectedCorrect++;
    }
    const before = tf.memory().numTensors;
    const result = await evaluateAccuracy(model, { x, y, inputShape: [784] }, 10);
    expect(tf.memory().numTensors).toBe(before);
    expect(result.count).toBe(count);
    expect(result.accuracy).toBeCloseTo(expectedCorrect / count, 10);
    model.dispose();
  });

  it('reports the mean cross-entropy of the predicted probabilities, as computed on the host', async () => {
    const model = await argmaxOfFirstTen();
    const count = 37;
    const x = new Float32Array(count * 784);
    const y = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      x[i * 784 + (i % 10)] = 0.5 + (i % 4);
      y[i] = (i * 3) % 10;
    }
    const result = await evaluateAccuracy(model, { x, y, inputShape: [784] }, 8);
    const probs = (model.predict(tf.tensor(x, [count, 784])) as tf.Tensor).arraySync() as number[][];
    const expected = probs.reduce((sum, p, i) => sum - Math.log(Math.max(p[y[i]], 1e-7)), 0) / count;
    expect(result.loss).toBeCloseTo(expected, 5);
    expect(result.loss).toBeGreaterThan(0);
    model.dispose();
  });

  it('rejects inputs whose size does not match the labels', async () => {
    const model = await argmaxOfFirstTen();
    const bad = { x: new Float32Array(784 * 2 + 1), y: new Uint8Array(2), inputShape: [784] };
    await expect(evaluateAccuracy(model, bad)).rejects.toThrow(/need 1568/);
    await expect(evaluateAccuracy(model, { ...bad, x: new Float32Array(784 * 2) }, 0)).rejects.toThrow(/batchSize/);
    model.dispose();
  });
});
