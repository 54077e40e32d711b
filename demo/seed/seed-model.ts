/**
 * The demo's first-start model: 'mlp-small' trained briefly on MNIST, so a
 * fresh coordinator has something useful to serve before any federated round.
 */
import * as tf from '@tensorflow/tfjs';
import { compileForTraining, createMnistModel } from '../../shared/model/index.ts';
import { MNIST_IMAGE_SIZE, loadMnist } from '../../simulate/datasets/mnist.ts';

export interface SeedModelOptions {
  /** Training examples, taken from the start of the MNIST training split (default 6000). */
  examples?: number;
  /** Epochs over those examples (default 2). */
  epochs?: number;
  /** Initializer seed (default 1). Training does not shuffle, so a seed fixes the result on one backend. */
  seed?: number;
  /** SGD learning rate (default 0.1). */
  learningRate?: number;
  /** Mini-batch size (default 32). */
  batchSize?: number;
}

/**
 * Train the seed model. About 5-10 s on the cpu backend with the defaults (far less on wasm),
 * reaching ~0.9 MNIST test accuracy.
 *
 * @example
 * const model = await trainSeedMnistModel({ seed: 7 });
 * await writeModelDirectory(model, join(dataDir, 'seed-model'));
 */
export async function trainSeedMnistModel(options: SeedModelOptions = {}): Promise<tf.LayersModel> {
  const { examples = 6000, epochs = 2, seed = 1, learningRate = 0.1, batchSize = 32 } = options;
  const { images, labels, count } = loadMnist({ split: 'train', limit: examples });
  const model = createMnistModel('mlp-small', { seed });
  compileForTraining(model, learningRate);
  const xs = tf.tensor2d(images, [count, MNIST_IMAGE_SIZE]);
  const ys = tf.tensor1d(Float32Array.from(labels), 'float32');
  try {
    // MNIST's training split is already in random order; not shuffling keeps runs reproducible.
    await model.fit(xs, ys, { epochs, batchSize, shuffle: false, verbose: 0 });
  } finally {
    tf.dispose([xs, ys]);
  }
  return model;
}
