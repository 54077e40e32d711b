/**
 * Classification accuracy of a LayersModel on flat host arrays, batch by batch,
 * so a holdout of any size fits in a small, bounded amount of tensor memory.
 */
import * as tf from '@tensorflow/tfjs';
import type { OutputSpec } from '../protocol/model-spec.ts';
import { sizeOfShape } from './parts.ts';

/** Labelled examples: `x` holds `count * prod(inputShape)` values, `y` one class per example. */
export interface LabelledExamples {
  x: Float32Array;
  y: Uint8Array;
  /** Shape of one example, without the batch dimension (e.g. [784] or [28, 28, 1]). */
  inputShape: number[];
}

export interface AccuracyResult {
  /** Fraction of examples whose arg-max prediction equals the label, in [0, 1]. */
  accuracy: number;
  /** Mean cross-entropy, -log p(label), of the outputs read as class probabilities (clipped at 1e-7). */
  loss: number;
  count: number;
}

/**
 * Top-1 accuracy and cross-entropy loss of `model` on `examples`.
 *
 * @example
 * const { accuracy } = await evaluateAccuracy(model, { x: images, y: labels, inputShape: [784] });
 */
export async function evaluateAccuracy(
  model: tf.LayersModel,
  examples: LabelledExamples,
  batchSize = 256,
  /** What the output means (a model spec's `output`): binary is scored by its threshold; default multiclass. */
  output?: OutputSpec,
): Promise<AccuracyResult> {
  if (output && output.kind !== 'multiclass' && output.kind !== 'binary')
    throw new RangeError(
      `a holdout holds one class label per example, so it cannot score a ${output.kind} model; evaluate it on the device's telemetry instead`,
    );
  const threshold = output?.kind === 'binary' ? output.threshold : null;
  const { x, y, inputShape } = examples;
  const exampleSize = sizeOfShape(inputShape);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (exampleSize < 1 || x.length !== y.length * exampleSize) {
    throw new RangeError(
      `x has ${x.length} values but ${y.length} labels of shape [${inputShape.join(', ')}] need ${y.length * exampleSize}`,
    );
  }
  const count = y.length;
  if (count === 0) return { accuracy: 0, loss: 0, count: 0 };
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const sums = tf.tidy(() => {
      const xs = tf.tensor(x.subarray(start * exampleSize, (start + n) * exampleSize), [n, ...inputShape], 'float32');
      const ys = tf.tensor1d(Int32Array.from(y.subarray(start, start + n)), 'int32');
      const output = model.predict(xs);
      if (Array.isArray(output)) throw new Error('evaluateAccuracy needs a model with a single output');
      if (threshold !== null) {
        // One sigmoid: the positive class when p >= the version's threshold; the loss is binary cross-entropy.
        const p = tf.reshape(output, [n]);
        const positive = tf.cast(tf.greaterEqual(p, threshold), 'int32');
        const hits = tf.sum(tf.cast(tf.equal(positive, ys), 'float32'));
        const picked = tf.where(tf.equal(ys, 1), p, tf.sub(1, p));
        return tf.stack([hits, tf.sum(tf.neg(tf.log(tf.clipByValue(picked, 1e-7, 1))))]);
      }
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(output, -1), ys), 'float32'));
      const picked = tf.sum(tf.mul(output, tf.oneHot(ys, output.shape[output.shape.length - 1] as number)), -1);
      const losses = tf.sum(tf.neg(tf.log(tf.clipByValue(picked, 1e-7, 1))));
      return tf.stack([hits, losses]);
    });
    // Read outside tidy and asynchronously: dataSync would stall a GPU backend.
    const [hits, losses] = await sums.data();
    correct += hits;
    lossSum += losses;
    sums.dispose();
  }
  return { accuracy: correct / count, loss: lossSum / count, count };
}
