import { describe, expect, it } from 'vitest';
import type { TrainingJob } from '../client/training/training-api.ts';
import { decodeTensors } from '../shared/codec/index.ts';
import { createMnistModel, partsFromModel } from '../shared/model/index.ts';
import { createClientPool } from './client-pool.ts';
import { loadMnist } from './datasets/mnist.ts';

describe('createClientPool on a worker thread', () => {
  it("trains a device's job into an update named and shaped like the model, and reports a failing job as an error", async () => {
    const pool = await createClientPool(1);
    const data = loadMnist({ split: 'train', limit: 100 });
    const model = createMnistModel('mlp-small', { seed: 3 });
    const parts = partsFromModel(model);
    model.dispose();
    const jobOf = (count: number): TrainingJob => ({
      topology: parts.topology,
      weightSpecs: parts.weightSpecs,
      globalWeights: parts.weights.map((w) => w.slice()),
      examples: { x: data.images.slice(0, count * 784), y: data.labels.slice(0, count), count, inputShape: [784] },
      plan: { localEpochs: 1, batchSize: 10, learningRate: 0.1, clipNorm: 1e6, updateEncoding: { encoding: 'int8' } },
    });
    try {
      const runner = pool.runnerFor(4);
      expect(runner.backend).toBe('wasm');
      const update = await runner.train('task_1', jobOf(100));
      expect(update.numExamples).toBe(100);
      expect(update.backend).toBe('wasm');
      expect(update.encoding).toBe('int8');
      const tensors = decodeTensors(update.bytes);
      expect(tensors.map((t) => [t.name, t.shape])).toEqual(parts.weightSpecs.map((s) => [s.name, s.shape]));
      expect(tensors.some((t) => t.data.some((v) => v !== 0))).toBe(true);
      await expect(pool.runnerFor(5).train('task_1', jobOf(0))).rejects.toThrow(
        /client training failed in a worker: .*count must be a positive integer/s,
      );
    } finally {
      await pool.close();
    }
  }, 60_000);
});
