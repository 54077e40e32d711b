/**
 * End to end on real MNIST: train the seed model, push it through the folder
 * format, derive variants and gate them on a 1,000-example holdout.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAccuracy, modelFromParts } from '../../shared/model/index.ts';
import { loadMnist } from '../../simulate/datasets/mnist.ts';
import { readHoldout, writeHoldout } from '../../coordinator/registry/holdout.ts';
import { readModelDirectory, writeModelDirectory } from '../../coordinator/registry/model-directory.ts';
import type { ModelPackage } from '../../coordinator/registry/model-files.ts';
import { trainSeedMnistModel } from './seed-model.ts';
import { checkVariantAccuracy } from '../../coordinator/registry/variant-accuracy.ts';
import { deriveVariants, weightsFromVariant } from '../../coordinator/registry/variants.ts';

let dir: string;
let pkg: ModelPackage;
let testAccuracy: number;

beforeAll(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'flock-seed-'));
  const model = await trainSeedMnistModel({ seed: 5 });
  // 2,000 test examples: the cpu backend is slow, and this bounds the estimate's error to about ±1.3 points.
  const test = loadMnist({ split: 'test', limit: 2000 });
  testAccuracy = (await evaluateAccuracy(model, { x: test.images, y: test.labels, inputShape: [784] })).accuracy;
  await writeModelDirectory(model, dir);
  model.dispose();
  pkg = await readModelDirectory(dir);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('trainSeedMnistModel', () => {
  it('reaches at least 0.85 MNIST test accuracy', () => {
    expect(testAccuracy).toBeGreaterThanOrEqual(0.85);
  });

  it('is reproducible for a seed', async () => {
    const a = await trainSeedMnistModel({ seed: 9, examples: 500, epochs: 1 });
    const b = await trainSeedMnistModel({ seed: 9, examples: 500, epochs: 1 });
    const wa = a.getWeights()[0].dataSync();
    const wb = b.getWeights()[0].dataSync();
    expect(Array.from(wb)).toEqual(Array.from(wa));
    a.dispose();
    b.dispose();
  });
});

describe('seed model through the registry', () => {
  it('survives the folder round trip with its accuracy', async () => {
    const model = await modelFromParts(pkg);
    const test = loadMnist({ split: 'test', limit: 2000 });
    const { accuracy } = await evaluateAccuracy(model, { x: test.images, y: test.labels, inputShape: [784] });
    expect(accuracy).toBe(testAccuracy);
    model.dispose();
  });

  it('keeps fp16 and int8 variants within one point of fp32 on a 1,000-example holdout', async () => {
    // Examples from the end of the test split, so the holdout is not the first 1,000 used above by chance.
    const { images, labels } = loadMnist({ split: 'test', offset: 9000, limit: 1000 });
    const holdout = readHoldout(writeHoldout({ x: images, y: labels, inputShape: [784] }));
    const before = tf.memory().numTensors;
    const report = await checkVariantAccuracy(pkg, deriveVariants(pkg), holdout);
    expect(tf.memory().numTensors).toBe(before);
    expect(report.count).toBe(1000);
    expect(report.fp32Accuracy).toBeGreaterThan(0.8);
    expect(report.perVariant.map((v) => v.encoding)).toEqual(['fp32', 'fp16', 'int8']);
    for (const v of report.perVariant) {
      expect(Math.abs(v.drop)).toBeLessThanOrEqual(0.01);
      expect(v.accepted).toBe(true);
      expect(v.drop).toBeCloseTo(report.fp32Accuracy - v.accuracy, 12);
    }
    expect(report.perVariant[0].drop).toBe(0);
  });

  it('refuses a variant whose weights lost too much', async () => {
    const { images, labels } = loadMnist({ split: 'test', limit: 500 });
    const holdout = { x: images, y: labels, inputShape: [784], count: 500 };
    // A variant with the output layer zeroed predicts class 0 for everything (~10% accuracy).
    const [fp32] = deriveVariants(pkg, ['fp32']);
    const broken = weightsFromVariant(fp32.bytes, pkg.weightSpecs).map((w, i) =>
      i >= 2 ? new Float32Array(w.length) : w,
    );
    const [zeroed] = deriveVariants({ weightSpecs: pkg.weightSpecs, weights: broken }, ['fp32']);
    const report = await checkVariantAccuracy(pkg, [zeroed], holdout, { maxAccuracyDrop: 0.05 });
    expect(report.perVariant[0].accepted).toBe(false);
    expect(report.perVariant[0].drop).toBeGreaterThan(0.5);
  });

  it('refuses a holdout of the wrong shape', async () => {
    const holdout = { x: new Float32Array(2 * 28 * 28), y: new Uint8Array(2), inputShape: [28, 28], count: 2 };
    await expect(checkVariantAccuracy(pkg, [], holdout)).rejects.toThrow(/model takes \[784\]/);
  });
});
