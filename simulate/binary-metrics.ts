/**
 * What a binary classifier (spam / not spam) is judged by on a held-out set:
 * accuracy, F1 of the positive class at a threshold, and the area under the
 * ROC curve (the Mann-Whitney probability that a random positive scores above
 * a random negative, ties counted half). Pure functions over plain arrays.
 */
import * as tf from '@tensorflow/tfjs';
import { sizeOfShape } from '../shared/model/index.ts';

export interface BinaryMetrics {
  accuracy: number;
  precision: number;
  recall: number;
  /** Harmonic mean of precision and recall; 0 when the model finds no positive. */
  f1: number;
  /** ROC AUC in [0, 1]; 0.5 when one class is missing from `labels`. */
  auc: number;
  count: number;
}

/**
 * @example binaryMetrics(Float32Array.of(0.9, 0.2, 0.6), Uint8Array.of(1, 0, 0)) // auc 1, f1 0.667
 */
export function binaryMetrics(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): BinaryMetrics {
  if (scores.length !== labels.length)
    throw new RangeError(`${scores.length} scores but ${labels.length} labels; give one score per example`);
  const n = labels.length;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < n; i++) {
    const predicted = scores[i] >= threshold;
    if (labels[i] === 1) predicted ? tp++ : fn++;
    else predicted ? fp++ : tn++;
  }
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  return {
    accuracy: n > 0 ? (tp + tn) / n : 0,
    precision,
    recall,
    f1: precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0,
    auc: rocAuc(scores, labels),
    count: n,
  };
}

/** ROC AUC by ranks (average ranks for ties): O(n log n). */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[order[k]] === 1) positives++, (rankSum += rank);
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return 0.5;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * The model's probability of class `positiveClass` (a softmax column, or the
 * one sigmoid unit) for each example, batch by batch.
 */
export async function positiveScores(
  model: tf.LayersModel,
  x: Float32Array,
  inputShape: number[],
  positiveClass = 1,
  batchSize = 256,
): Promise<Float32Array> {
  const size = sizeOfShape(inputShape);
  const count = x.length / size;
  const out = new Float32Array(count);
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const column = tf.tidy(() => {
      const output = model.predict(tf.tensor(x.subarray(start * size, (start + n) * size), [n, ...inputShape]));
      if (Array.isArray(output)) throw new Error('positiveScores needs a model with a single output');
      const units = output.shape[1] ?? 1;
      return units === 1 ? output.reshape([n]) : output.slice([0, positiveClass], [n, 1]).reshape([n]);
    });
    out.set(await column.data(), start);
    column.dispose();
  }
  return out;
}
