/**
 * The MNIST models used across Flock. Layers have fixed names so that two
 * processes building the same kind get the same topology (and topology hash)
 * and the same weight names.
 */
import * as tf from '@tensorflow/tfjs';
import type { OutputKind } from '../protocol/model-spec.ts';
import { outputTraining } from './output-training.ts';

/**
 * - `mlp-small`: 784-64-10, for tests and the demo (50,890 params).
 * - `2nn`: 784-200-200-10 ReLU from McMahan et al. 2017 (199,210 params).
 * - `cnn`: the FedAvg paper's CNN, conv5x5x32 / pool / conv5x5x64 / pool / 512 / 10 (1,663,370 params).
 */
export type MnistModelKind = 'mlp-small' | '2nn' | 'cnn';

export interface MnistModelOptions {
  /** Seed for the kernel initializers, for reproducible models. */
  seed?: number;
}

/** The input shape (without batch dimension) each kind expects. */
export function mnistInputShape(kind: MnistModelKind): number[] {
  return kind === 'cnn' ? [28, 28, 1] : [784];
}

/**
 * Build (not compile) an MNIST classifier ending in a 10-way softmax.
 *
 * @example
 * const model = createMnistModel('2nn', { seed: 1 });
 * compileForTraining(model, 0.1);
 */
export function createMnistModel(kind: MnistModelKind, options: MnistModelOptions = {}): tf.LayersModel {
  let seed = options.seed;
  // Each layer needs its own seed, or all kernels of one shape would be equal.
  const init = () => tf.initializers.glorotUniform(seed === undefined ? {} : { seed: seed++ });
  const dense = (name: string, units: number, activation: 'relu' | 'softmax', inputShape?: number[]) =>
    tf.layers.dense({ name, units, activation, kernelInitializer: init(), ...(inputShape ? { inputShape } : {}) });

  const model = tf.sequential({ name: `mnist_${kind.replace('-', '_')}` });
  switch (kind) {
    case 'mlp-small':
      model.add(dense('hidden1', 64, 'relu', [784]));
      break;
    case '2nn':
      model.add(dense('hidden1', 200, 'relu', [784]));
      model.add(dense('hidden2', 200, 'relu'));
      break;
    case 'cnn':
      model.add(
        tf.layers.conv2d({
          name: 'conv1',
          inputShape: [28, 28, 1],
          filters: 32,
          kernelSize: 5,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: init(),
        }),
      );
      model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }));
      model.add(
        tf.layers.conv2d({
          name: 'conv2',
          filters: 64,
          kernelSize: 5,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: init(),
        }),
      );
      model.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2, strides: 2 }));
      model.add(tf.layers.flatten({ name: 'flatten' }));
      model.add(dense('hidden1', 512, 'relu'));
      break;
    default:
      throw new Error(`unknown MNIST model kind ${String(kind)}; use 'mlp-small', '2nn' or 'cnn'`);
  }
  model.add(dense('output', 10, 'softmax'));
  return model;
}

/**
 * Compile for local training: plain SGD (what FedAvg assumes on clients) and
 * sparse categorical cross-entropy. Labels are class indices, a tensor of
 * shape [n] (float32 or int32), not one-hot vectors.
 *
 * @example
 * compileForTraining(model, 0.1);
 * await model.fit(xs, tf.tensor1d(labels, 'float32'), { epochs: 1, batchSize: 32 });
 */
export function compileForTraining(model: tf.LayersModel, learningRate: number, output?: OutputKind): void {
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) {
    throw new RangeError(`learningRate must be a positive finite number, got ${learningRate}`);
  }
  // Other output kinds (a model spec's `output`) change the loss and the target layout: output-training.ts.
  const { loss, metrics } = outputTraining(output);
  model.compile({ optimizer: tf.train.sgd(learningRate), loss, metrics });
}
