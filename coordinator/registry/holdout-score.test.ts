import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { HoldoutError, readHoldout, writeHoldout } from './holdout.ts';
import { holdoutMetrics, scoreHoldout } from './holdout-score.ts';
import { modelToFiles } from './model-directory.ts';
import { readModelFiles } from './model-files.ts';
import { checkVariantHoldout, regressionErrorScale } from './variant-accuracy.ts';
import { deriveVariants } from './variants.ts';

/** A dense layer with the given kernel (rows = inputs) and bias. */
function dense(kernel: number[][], bias: number[], activation: 'linear' | 'sigmoid'): tf.LayersModel {
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [kernel.length], units: bias.length, activation, name: 'head' })],
  });
  model.setWeights([tf.tensor2d(kernel), tf.tensor1d(bias)]);
  return model;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('scoreHoldout', () => {
  it('scores regression by mean absolute error over every output, with the squared error as loss', async () => {
    // y_hat = 2 x0 - x1 + 0.5: 2.5, -0.5, 3.5 against 2, 0, 4.
    const model = dense([[2], [-1]], [0.5], 'linear');
    const holdout = readHoldout(writeHoldout({ x: Float32Array.of(1, 0, 0, 1, 3, 3), y: [2, 0, 4], inputShape: [2] }));
    const score = await scoreHoldout(model, holdout, { kind: 'regression' }, 2);
    expect(score).toEqual({ metric: 'meanAbsoluteError', meanAbsoluteError: 0.5, loss: 0.25, count: 3 });
    expect(holdoutMetrics(score)).toEqual({ holdoutMeanAbsoluteError: 0.5, holdoutLoss: 0.25, holdoutCount: 3 });
    // Two outputs: the second is off by 10 on every example.
    const two = dense(
      [
        [2, 0],
        [-1, 0],
      ],
      [0.5, 10],
      'linear',
    );
    const twoHoldout = readHoldout(
      writeHoldout({ x: Float32Array.of(1, 0, 0, 1), y: [2, 0, 0, 0], targetWidth: 2, inputShape: [2] }),
    );
    expect(await scoreHoldout(two, twoHoldout, { kind: 'regression' })).toMatchObject({ meanAbsoluteError: 5.25 });
    model.dispose();
    two.dispose();
  });

  it('scores multilabel by exact match (the headline) and per-label accuracy, at the stored threshold', async () => {
    // Zero kernel: p = sigmoid(2, -2, 0) = 0.88, 0.12, 0.5 for every example; at threshold 0.5 that reads 1, 0, 1.
    const model = dense([[0, 0, 0]], [2, -2, 0], 'sigmoid');
    const y = [1, 0, 1, /**/ 1, 1, 1, /**/ 0, 1, 0];
    const holdout = readHoldout(writeHoldout({ x: new Float32Array(3), y, targetWidth: 3, inputShape: [1] }));
    const output = { kind: 'multilabel' as const, threshold: 0.5, labels: ['a', 'b', 'c'] };
    const score = await scoreHoldout(model, holdout, output);
    expect(score).toMatchObject({ metric: 'exactMatch', accuracy: 1 / 3, labelAccuracy: 5 / 9, count: 3 });
    // At 0.6 label c (p = 0.5) no longer applies: the model reads 1, 0, 0, which no example is.
    const strict = await scoreHoldout(model, holdout, { ...output, threshold: 0.6 });
    expect(strict).toMatchObject({ accuracy: 0, labelAccuracy: 4 / 9 });
    expect(Object.keys(holdoutMetrics(score)).sort()).toEqual([
      'holdoutAccuracy',
      'holdoutCount',
      'holdoutLabelAccuracy',
      'holdoutLoss',
    ]);
    model.dispose();
  });

  it('refuses targets that mean nothing to the output kind, naming what it needs', async () => {
    const model = dense([[0, 0, 0]], [0, 0, 0], 'sigmoid');
    const output = { kind: 'multilabel' as const, threshold: 0.5, labels: ['a', 'b', 'c'] };
    const classes = readHoldout(writeHoldout({ x: new Float32Array(2), y: [3, 1], inputShape: [1] }));
    await expect(scoreHoldout(model, classes, output)).rejects.toThrow(/1 target value per example .* needs 3/);
    const notBits = readHoldout(
      writeHoldout({ x: new Float32Array(1), y: [1, 0.5, 0], targetWidth: 3, inputShape: [1] }),
    );
    await expect(scoreHoldout(model, notBits, output)).rejects.toThrow(/label 0 is 0.5; .* 0 or 1/);
    await expect(scoreHoldout(model, classes, { kind: 'multiclass' })).rejects.toThrow(/label 0 is 3; .* 0\.\.2/);
    await expect(scoreHoldout(model, classes, { kind: 'regression' })).rejects.toBeInstanceOf(HoldoutError);
    model.dispose();
  });
});

describe('the regression gate', () => {
  it('measures a drop in units of the median guess', () => {
    const holdout = readHoldout(writeHoldout({ x: new Float32Array(4), y: [1, 2, 3, 10], inputShape: [1] }));
    // Median 2.5: |1-2.5| + |2-2.5| + |3-2.5| + |10-2.5| = 10, over 4.
    expect(regressionErrorScale(holdout)).toBe(2.5);
    const flat = readHoldout(writeHoldout({ x: new Float32Array(2), y: [7, 7], inputShape: [1] }));
    expect(regressionErrorScale(flat)).toBe(1);
  });

  it('serves fp16 and refuses an int8 variant whose error grows past 1% of that scale', async () => {
    // One huge weight sets the int8 step of the only output channel (~7.8), so the small weights are lost.
    const model = dense([[1000], [0.3], [-0.7], [1.1]], [0], 'linear');
    const pkg = await readModelFiles(await modelToFiles(model));
    const n = 64;
    const x = new Float32Array(n * 4);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const row = [1e-4 * Math.sin(i), Math.sin(3 * i), Math.cos(5 * i), Math.sin(7 * i + 1)];
      x.set(row, i * 4);
      y[i] = 1000 * row[0] + 0.3 * row[1] - 0.7 * row[2] + 1.1 * row[3] + 0.05 * Math.cos(11 * i);
    }
    const holdout = readHoldout(writeHoldout({ x, y, inputShape: [4] }));
    const report = await checkVariantHoldout(pkg, deriveVariants(pkg), holdout, { output: { kind: 'regression' } });
    if (report.metric !== 'meanAbsoluteError') throw new Error(`scored as ${report.metric}`);
    const by = Object.fromEntries(report.perVariant.map((v) => [v.encoding, v]));
    expect(report.fp32MeanAbsoluteError).toBeLessThan(0.05);
    expect(by.fp32).toMatchObject({ drop: 0, accepted: true });
    expect(by.fp16.accepted).toBe(true);
    expect(Math.abs(by.fp16.drop)).toBeLessThan(0.01);
    expect(by.int8.accepted).toBe(false);
    expect(by.int8.drop).toBeGreaterThan(0.1);
    expect(by.int8.drop).toBeCloseTo(
      (by.int8.meanAbsoluteError - report.fp32MeanAbsoluteError) / report.errorScale,
      12,
    );
    model.dispose();
  });
});
