/**
 * The yardstick a federated run is judged against: the same architecture,
 * from the same initial weights, trained centrally (plain SGD, the clients'
 * learning rate and batch size) on the union of every client's examples, and
 * evaluated on the same held-out set.
 */
import * as tf from '@tensorflow/tfjs';
import { compileForTraining, evaluateAccuracy } from '../shared/model/index.ts';
import { binaryMetrics, positiveScores } from './binary-metrics.ts';
import type { Partition } from './partitions.ts';
import type { SimulationData } from './simulation-data.ts';
import { gatherExamples } from './shared-dataset.ts';

export interface HeldOutMetrics {
  accuracy: number;
  /** Binary datasets only (positive class), else absent. */
  f1?: number;
  auc?: number;
}

export interface CentralResult extends HeldOutMetrics {
  epochs: number;
  examples: number;
  seconds: number;
}

/** Accuracy (and, for a binary dataset, F1 and ROC AUC) of `model` on the held-out set. */
export async function evaluateHeldOut(model: tf.LayersModel, data: SimulationData): Promise<HeldOutMetrics> {
  const { x, y } = data.test;
  if (data.positiveClass === null)
    return { accuracy: (await evaluateAccuracy(model, { x, y, inputShape: data.inputShape })).accuracy };
  const scores = await positiveScores(model, x, data.inputShape, data.positiveClass);
  const m = binaryMetrics(
    scores,
    y.map((l) => (l === data.positiveClass ? 1 : 0)),
  );
  return { accuracy: m.accuracy, f1: m.f1, auc: m.auc };
}

/**
 * @example
 * const central = await trainCentral(data, partition, { epochs: 10, batch: 10, lr: 0.5, seed: 1 });
 */
export async function trainCentral(
  data: SimulationData,
  partition: Partition,
  o: { epochs: number; batch: number; lr: number; seed: number },
): Promise<CentralResult> {
  const started = performance.now();
  const union = new Int32Array(partition.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of partition) union.set(p, (at += p.length) - p.length);
  const { x, y } = gatherExamples({ images: data.train.x, labels: data.train.y, inputShape: data.inputShape }, union);
  const model = data.createModel(o.seed);
  try {
    compileForTraining(model, o.lr);
    const xs = tf.tensor(x, [union.length, ...data.inputShape]);
    const ys = tf.tensor1d(y, 'float32');
    try {
      await model.fit(xs, ys, { epochs: o.epochs, batchSize: o.batch, shuffle: true, verbose: 0 });
    } finally {
      xs.dispose();
      ys.dispose();
    }
    const metrics = await evaluateHeldOut(model, data);
    return { ...metrics, epochs: o.epochs, examples: union.length, seconds: (performance.now() - started) / 1000 };
  } finally {
    model.dispose();
  }
}
