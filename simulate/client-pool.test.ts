import { describe, expect, it } from 'vitest';
import { decodeTensors } from '../shared/codec/index.ts';
import { createMnistModel, partsFromModel } from '../shared/model/index.ts';
import { loadMnist } from './datasets/mnist.ts';
import { createClientPool } from './client-pool.ts';
import type { TrainingJob } from './training-job.ts';

describe('createClientPool on a worker thread', () => {
  it('trains a job into an update named and shaped like the model, and reports a failing job as an error', async () => {
    const data = loadMnist({ split: 'train', limit: 200 });
    const model = createMnistModel('mlp-small', { seed: 3 });
    const parts = partsFromModel(model);
    model.dispose();
    const pool = await createClientPool({ images: data.images, labels: data.labels, inputShape: [784] }, 1);
    try {
      const job: TrainingJob = {
        clientIndex: 0,
        topology: parts.topology,
        weightSpecs: parts.weightSpecs,
        globalWeights: parts.weights,
        indices: Int32Array.from({ length: 100 }, (_, i) => i),
        plan: { localEpochs: 1, batchSize: 10, learningRate: 0.1, clipNorm: 1e6, updateEncoding: { encoding: 'fp32' } },
        errorFeedback: false,
      };
      const update = await pool.train(job);
      expect(update.numExamples).toBe(100);
      expect(update.backend).toBe('wasm');
      const tensors = decodeTensors(update.bytes);
      expect(tensors.map((t) => [t.name, t.shape])).toEqual(parts.weightSpecs.map((s) => [s.name, s.shape]));
      expect(tensors.some((t) => t.data.some((v) => v !== 0))).toBe(true);
      await expect(pool.train({ ...job, indices: new Int32Array(0) })).rejects.toThrow(
        /client training failed in a worker: .*count must be a positive integer/s,
      );
    } finally {
      await pool.close();
    }
  }, 60_000);
});
