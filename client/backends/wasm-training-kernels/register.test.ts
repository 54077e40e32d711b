/**
 * End to end: without Flock's kernels the MNIST CNN cannot train on wasm;
 * with them, gradients match the cpu backend and SGD lowers the loss on real
 * MNIST without leaking tensors.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from './register.ts';
import { firstMismatch, readMnistTraining, useWasmBackendInNode } from './test-fixtures.ts';

/** The CNN of McMahan et al. 2017 (FedAvg) for MNIST, built inline, seeded. */
function mnistCnn(): tf.Sequential {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [28, 28, 1],
        filters: 32,
        kernelSize: 5,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(1),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 512, activation: 'relu', kernelInitializer: init(3) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(4) }),
    ],
  });
}

describe('registerWasmTrainingKernels', () => {
  beforeAll(async () => {
    await useWasmBackendInNode();
  });

  it('is needed: tfjs-backend-wasm alone cannot train a conv layer', async () => {
    for (const config of WASM_TRAINING_KERNELS) expect(tf.getKernel(config.kernelName, 'wasm')).toBeUndefined();
    const model = tf.sequential({
      layers: [tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }), tf.layers.flatten()],
    });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
    await expect(model.trainOnBatch(tf.ones([2, 6, 6, 1]), tf.zeros([2, 32]))).rejects.toThrow(
      /Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'/,
    );
    model.dispose();
  });

  it('registers each missing kernel once and is idempotent', () => {
    const first = registerWasmTrainingKernels();
    expect(first).toEqual({ registered: ['Conv2DBackpropFilter'], alreadyPresent: [] });
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.backendName).toBe('wasm');
    const second = registerWasmTrainingKernels();
    expect(second).toEqual({ registered: [], alreadyPresent: ['Conv2DBackpropFilter'] });
  });

  it('gives the same gradients as cpu for a small conv net (tf.grads)', async () => {
    registerWasmTrainingKernels();
    const seedValues = (shape: number[], seed: number): Float32Array =>
      tf.tidy(() => tf.randomNormal(shape, 0, 0.5, 'float32', seed).dataSync() as Float32Array);
    await tf.setBackend('cpu');
    const init = {
      x: seedValues([3, 12, 12, 2], 1),
      w1: seedValues([5, 5, 2, 4], 2),
      w2: seedValues([3, 3, 4, 6], 3),
      wd: seedValues([2 * 2 * 6, 5], 4),
    };
    const labels = [0, 3, 4];
    const gradsOn = async (backend: string): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const x = tf.tensor4d(init.x, [3, 12, 12, 2]);
        const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 5);
        const loss = (w1: tf.Tensor, w2: tf.Tensor, wd: tf.Tensor): tf.Scalar => {
          const h1 = tf.maxPool(tf.relu(tf.conv2d(x, w1 as tf.Tensor4D, 1, 'same')), 2, 2, 'valid');
          const h2 = tf.relu(tf.conv2d(h1, w2 as tf.Tensor4D, [2, 2], 'valid'));
          const logits = tf.matMul(tf.reshape(h2, [3, -1]), wd as tf.Tensor2D);
          return tf.losses.softmaxCrossEntropy(y, logits);
        };
        const grads = tf.grads(loss)([
          tf.tensor(init.w1, [5, 5, 2, 4]),
          tf.tensor(init.w2, [3, 3, 4, 6]),
          tf.tensor(init.wd, [24, 5]),
        ]);
        return grads.map((g) => g.dataSync() as Float32Array);
      });
    };
    const cpu = await gradsOn('cpu');
    const wasm = await gradsOn('wasm');
    expect(wasm.map((g) => g.length)).toEqual([5 * 5 * 2 * 4, 3 * 3 * 4 * 6, 24 * 5]);
    for (let i = 0; i < cpu.length; i++) {
      expect(cpu[i].some((v) => v !== 0)).toBe(true);
      expect(firstMismatch(wasm[i], cpu[i])).toBeNull();
    }
  });

  it('trains the FedAvg MNIST CNN on wasm: loss falls on real MNIST, no tensor leak', async () => {
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
    const { images, labels, count } = readMnistTraining(320);
    const xs = tf.tensor4d(images, [count, 28, 28, 1]);
    const ys = tf.tensor1d(Float32Array.from(labels));
    const model = mnistCnn();
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'sparseCategoricalCrossentropy' });
    const lossOf = (): number => tf.tidy(() => (model.evaluate(xs, ys, { batchSize: 64 }) as tf.Scalar).dataSync()[0]);
    const before = lossOf();
    const batch = 32;
    const backend = tf.backend();
    let tensorsAfterFirstStep = -1;
    let dataIdsAfterFirstStep = -1;
    for (let epoch = 0; epoch < 2; epoch++) {
      for (let start = 0; start < count; start += batch) {
        const [bx, by] = tf.tidy(() => [xs.slice(start, batch), ys.slice(start, batch)]);
        const stepLoss = (await model.trainOnBatch(bx, by)) as number;
        expect(Number.isFinite(stepLoss)).toBe(true);
        bx.dispose();
        by.dispose();
        // numDataIds also counts the kernel's temporary wasm buffers.
        if (tensorsAfterFirstStep < 0) {
          tensorsAfterFirstStep = tf.memory().numTensors;
          dataIdsAfterFirstStep = backend.numDataIds();
        } else {
          expect(tf.memory().numTensors).toBe(tensorsAfterFirstStep);
          expect(backend.numDataIds()).toBe(dataIdsAfterFirstStep);
        }
      }
    }
    const after = lossOf();
    expect(tf.getBackend()).toBe('wasm');
    expect(before).toBeGreaterThan(2);
    // Seeded: 2.30 -> 0.95 here; a broken gradient leaves it near 2.3.
    expect(after).toBeLessThan(before * 0.6);
    model.dispose();
    xs.dispose();
    ys.dispose();
    // ~5 s idle; a loaded 2-core CI machine can be ten times slower.
  }, 240_000);

  it('trains the 784-200-200-10 MLP on wasm with categorical crossentropy', async () => {
    await tf.setBackend('wasm');
    const { images, labels, count } = readMnistTraining(256);
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [784], units: 200, activation: 'relu' }),
        tf.layers.dense({ units: 200, activation: 'relu' }),
        tf.layers.dense({ units: 10, activation: 'softmax' }),
      ],
    });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
    const xs = tf.tensor2d(images, [count, 784]);
    const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
    const history = await model.fit(xs, ys, { batchSize: 32, epochs: 3, shuffle: false, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses[2]).toBeLessThan(losses[0]);
    model.dispose();
    xs.dispose();
    ys.dispose();
  });
});
