import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ErrorFeedback, decodeTensors } from '../../shared/codec/index.ts';
import { globalL2Norm } from '../../shared/dp/index.ts';
import { partsFromModel, type ModelParts } from '../../shared/model/index.ts';
import { TaskPlanSchema, type TaskPlanInput } from '../../shared/protocol/index.ts';
import { trainLocalUpdate, type TrainingExamples } from './local-training.ts';

const FEATURES = 8;
const CLASSES = 3;

/** A tiny softmax classifier; what is tested is the update pipeline, not the model. */
function tinyModelParts(): ModelParts {
  const model = tf.sequential({ name: 'tiny' });
  model.add(
    tf.layers.dense({
      name: 'hidden',
      units: 6,
      activation: 'relu',
      inputShape: [FEATURES],
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    }),
  );
  model.add(
    tf.layers.dense({
      name: 'out',
      units: CLASSES,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    }),
  );
  const parts = partsFromModel(model);
  model.dispose();
  return parts;
}

/** Deterministic examples whose label is the arg-max of three fixed feature sums, so there is something to learn. */
function examples(count: number): TrainingExamples {
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const x = new Float32Array(count * FEATURES);
  const y = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < FEATURES; j++) x[i * FEATURES + j] = next();
    const row = x.subarray(i * FEATURES, (i + 1) * FEATURES);
    const scores = [row[0] + row[1], row[2] + row[3], row[4] + row[5]];
    y[i] = scores.indexOf(Math.max(...scores));
  }
  return { x, y, count, inputShape: [FEATURES] };
}

const plan = (overrides: Partial<TaskPlanInput> = {}) =>
  TaskPlanSchema.parse({
    population: 10,
    localEpochs: 2,
    batchSize: 16,
    learningRate: 0.5,
    clipNorm: 100,
    ...overrides,
  });

const parts = tinyModelParts();
const data = examples(128);
const input = {
  topology: parts.topology,
  weightSpecs: parts.weightSpecs,
  globalWeights: parts.weights,
  examples: data,
};

describe('trainLocalUpdate', () => {
  it('encodes a delta with the model weights names and shapes, and reports the meta fields', async () => {
    const update = await trainLocalUpdate({ ...input, plan: plan() });
    const tensors = decodeTensors(update.bytes);
    expect(tensors.map((t) => [t.name, t.shape])).toEqual(parts.weightSpecs.map((s) => [s.name, s.shape]));
    const norm = globalL2Norm(tensors.map((t) => t.data));
    expect(norm).toBeGreaterThan(0);
    // clipNorm 100 is far above this delta: nothing clipped, so the sent norm is the pre-clip norm.
    expect(norm).toBeCloseTo(update.preClipNorm, 4);
    expect(update).toMatchObject({ numExamples: 128, epochs: 2, encoding: 'fp32', backend: tf.getBackend() });
    expect(Number.isFinite(update.trainLoss)).toBe(true);
    expect(update.trainAccuracy).toBeGreaterThanOrEqual(0);
    expect(update.trainAccuracy).toBeLessThanOrEqual(1);
    expect(update.durationMs).toBeGreaterThan(0);
  });

  it('moves the weights towards lower loss on the local data', async () => {
    const update = await trainLocalUpdate({ ...input, plan: plan({ localEpochs: 5 }) });
    const delta = decodeTensors(update.bytes);
    const loss = (weights: Float32Array[]) =>
      tf.tidy(() => {
        const [w1, b1, w2, b2] = weights.map((w, i) => tf.tensor(w, parts.weightSpecs[i].shape));
        const probs = tf.softmax(
          tf
            .relu(tf.tensor2d(data.x, [data.count, FEATURES]).matMul(w1).add(b1))
            .matMul(w2)
            .add(b2),
        );
        return tf.losses
          .softmaxCrossEntropy(tf.oneHot(tf.tensor1d(data.y, 'int32'), CLASSES), tf.log(probs))
          .dataSync()[0];
      });
    const after = parts.weights.map((w, i) => w.map((v, j) => v + delta[i].data[j]));
    expect(loss(after)).toBeLessThan(loss(parts.weights));
  });

  it('clips the update to clipNorm and reports the norm before clipping', async () => {
    const update = await trainLocalUpdate({ ...input, plan: plan({ clipNorm: 0.01 }) });
    const norm = globalL2Norm(decodeTensors(update.bytes).map((t) => t.data));
    expect(update.preClipNorm).toBeGreaterThan(0.01);
    expect(norm).toBeLessThanOrEqual(0.01);
    expect(norm).toBeGreaterThan(0.0099);
  });

  it('keeps int8 updates within the clip bound up to quantization', async () => {
    const update = await trainLocalUpdate({
      ...input,
      plan: plan({ clipNorm: 0.05, updateEncoding: { encoding: 'int8' } }),
    });
    expect(update.encoding).toBe('int8');
    const norm = globalL2Norm(decodeTensors(update.bytes).map((t) => t.data));
    expect(norm).toBeLessThanOrEqual(0.05 * 1.05);
    expect(norm).toBeGreaterThan(0.05 * 0.9);
  });

  it('sends top-k entries and carries the rest in the error-feedback residual', async () => {
    const ef = new ErrorFeedback();
    const topk = { encoding: 'topk' as const, topkFraction: 0.1 };
    const first = await trainLocalUpdate({ ...input, plan: plan({ updateEncoding: topk }), errorFeedback: ef });
    const sent = decodeTensors(first.bytes);
    sent.forEach((t, i) => {
      const nonZero = t.data.filter((v) => v !== 0).length;
      expect(nonZero).toBeGreaterThan(0);
      expect(nonZero).toBeLessThanOrEqual(Math.ceil(0.1 * t.data.length));
      expect(t.name).toBe(parts.weightSpecs[i].name);
    });
    // Nothing was clipped (clipNorm 100), so sent + residual is the whole delta.
    const residual = ef.residual();
    const whole = sent.map((t) => t.data.map((v, j) => v + residual.get(t.name)![j]));
    expect(globalL2Norm(whole)).toBeCloseTo(first.preClipNorm, 4);
    expect(globalL2Norm([...residual.values()])).toBeGreaterThan(0);

    // The next round clips delta + residual, so the sent norm stays within a small clipNorm.
    const second = await trainLocalUpdate({
      ...input,
      plan: plan({ updateEncoding: topk, clipNorm: 0.02 }),
      errorFeedback: ef,
    });
    expect(globalL2Norm(decodeTensors(second.bytes).map((t) => t.data))).toBeLessThanOrEqual(0.02 * (1 + 1e-5));
    const residual2 = ef.residual();
    const whole2 = decodeTensors(second.bytes).map((t) => t.data.map((v, j) => v + residual2.get(t.name)![j]));
    expect(globalL2Norm(whole2)).toBeCloseTo(0.02, 4);
  });

  it('adds local noise of stddev localNoiseMultiplier * clipNorm', async () => {
    // A vanishing learning rate makes the delta ~0, so the update is the noise alone.
    const update = await trainLocalUpdate({
      ...input,
      plan: plan({ learningRate: 1e-12, clipNorm: 2, localNoiseMultiplier: 0.5 }),
    });
    const values = decodeTensors(update.bytes).flatMap((t) => [...t.data]);
    const std = Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);
    // 75 samples: the sample stddev of N(0, 1) is within ~25% of 1 with overwhelming probability.
    expect(std).toBeGreaterThan(0.75);
    expect(std).toBeLessThan(1.25);
  });

  it('disposes every tensor it creates', async () => {
    await trainLocalUpdate({ ...input, plan: plan({ localEpochs: 1 }) }); // warm-up: backend kernels may cache on first use
    const before = tf.memory().numTensors;
    await trainLocalUpdate({ ...input, plan: plan({ localEpochs: 1 }) });
    await trainLocalUpdate({ ...input, plan: plan({ localEpochs: 1, updateEncoding: { encoding: 'int8' } }) });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses examples that do not fill count', async () => {
    await expect(trainLocalUpdate({ ...input, examples: { ...data, count: 1000 }, plan: plan() })).rejects.toThrow(
      /too few for 1000 examples/,
    );
    await expect(trainLocalUpdate({ ...input, examples: { ...data, count: 0 }, plan: plan() })).rejects.toThrow(
      /positive integer/,
    );
  });
});

describe('trainLocalUpdate with frozen layers', () => {
  /** Full-batch SGD steps on the cross-entropy of the tiny model, moving only the weights `moves` picks. */
  function sgdReference(steps: number, learningRate: number, moves: (i: number) => boolean): Float32Array[] {
    return tf.tidy(() => {
      const xs = tf.tensor2d(data.x, [data.count, FEATURES]);
      const ys = tf.oneHot(tf.tensor1d(data.y, 'int32'), CLASSES);
      const weights = parts.weights.map((w, i) => tf.variable(tf.tensor(w, parts.weightSpecs[i].shape)));
      for (let step = 0; step < steps; step++) {
        const { grads } = tf.variableGrads(() => {
          const [w1, b1, w2, b2] = weights;
          const probs = tf.softmax(tf.relu(xs.matMul(w1).add(b1)).matMul(w2).add(b2));
          return tf.mean(tf.sum(ys.mul(tf.log(probs.clipByValue(1e-7, 1 - 1e-7))), 1)).neg() as tf.Scalar;
        }, weights);
        weights.forEach((w, i) => {
          if (moves(i)) w.assign(w.sub(grads[w.name].mul(learningRate)));
        });
      }
      const out = weights.map((w, i) => {
        const after = w.dataSync() as Float32Array;
        return after.map((v, j) => v - parts.weights[i][j]);
      });
      for (const w of weights) w.dispose();
      return out;
    });
  }
  const isHead = (i: number) => parts.weightSpecs[i].name.startsWith('out/');
  // One batch of all 128 examples: shuffling cannot change the steps, so a reference can follow them.
  const fullBatch = plan({ localEpochs: 3, batchSize: 128, learningRate: 0.5 });

  it('uploads only the trainable tensors and trains them against the fixed frozen layers', async () => {
    const update = await trainLocalUpdate({ ...input, frozenLayers: ['hidden'], plan: fullBatch });
    const sent = decodeTensors(update.bytes);
    expect(sent.map((t) => [t.name, t.shape])).toEqual([
      ['out/kernel', [6, CLASSES]],
      ['out/bias', [CLASSES]],
    ]);
    // The head's delta is that of SGD with the hidden layer held still, not of SGD moving both.
    const frozenRef = sgdReference(3, 0.5, isHead).filter((_, i) => isHead(i));
    const bothRef = sgdReference(3, 0.5, () => true).filter((_, i) => isHead(i));
    const distance = (a: Float32Array[], b: Float32Array[]) =>
      globalL2Norm(a.map((t, i) => t.map((v, j) => v - b[i][j])));
    const sentData = sent.map((t) => t.data);
    expect(distance(frozenRef, bothRef)).toBeGreaterThan(1e-3); // the reference tells the two apart
    expect(distance(sentData, frozenRef)).toBeLessThan(1e-5 + distance(frozenRef, bothRef) / 100);
    expect(update.preClipNorm).toBeCloseTo(globalL2Norm(sentData), 4);
  });

  it('makes the update the size of the trainable weights', async () => {
    const whole = await trainLocalUpdate({ ...input, plan: plan() });
    const head = await trainLocalUpdate({ ...input, frozenLayers: ['hidden'], plan: plan() });
    // fp32 bodies: 51 parameters against 21 (the head's 6x3 kernel and 3 biases), plus the tensor table.
    expect(head.bytes.byteLength).toBeLessThan(whole.bytes.byteLength - 30 * 4);
  });

  it('refuses a frozen layer the model lacks, and a spec that freezes every layer', async () => {
    await expect(trainLocalUpdate({ ...input, frozenLayers: ['nope'], plan: plan() })).rejects.toThrow(
      /frozenLayers names nope, which the model lacks/,
    );
    await expect(trainLocalUpdate({ ...input, frozenLayers: ['hidden', 'out'], plan: plan() })).rejects.toThrow(
      /nothing to train/,
    );
  });
});
