import { describe, expect, it } from 'vitest';
import { decodeTensors } from '../shared/codec/index.ts';
import { createMnistModel, partsFromModel } from '../shared/model/index.ts';
import { trainingTransferables, trainingWorkerApi, type TrainingJob } from './training-worker.ts';

function job(encoding: 'fp32' | 'int8'): TrainingJob {
  const model = createMnistModel('mlp-small', { seed: 5 });
  const { topology, weightSpecs, weights } = partsFromModel(model);
  model.dispose();
  const count = 16;
  const x = new Float32Array(count * 784).map((_, i) => ((i * 7919) % 255) / 255);
  const y = Int32Array.from({ length: count }, (_, i) => i % 10);
  return {
    topology,
    weightSpecs,
    globalWeights: weights,
    examples: { x, y, count, inputShape: [784] },
    plan: { localEpochs: 1, batchSize: 8, learningRate: 0.1, clipNorm: 0.5, updateEncoding: { encoding } },
  };
}

describe('training worker api', () => {
  it('trains on the chosen backend and returns a clipped delta over every weight', async () => {
    expect(await trainingWorkerApi.init({ backend: 'cpu' })).toEqual({ backend: 'cpu', flockKernels: [] });
    const input = job('fp32');
    const update = await trainingWorkerApi.train('task_a', input);
    expect(update.numExamples).toBe(16);
    expect(update.backend).toBe('cpu');
    const tensors = decodeTensors(update.bytes);
    expect(tensors.map((t) => [t.name, t.shape])).toEqual(input.weightSpecs.map((s) => [s.name, s.shape]));
    const norm = Math.sqrt(tensors.reduce((n, t) => n + t.data.reduce((m, v) => m + v * v, 0), 0));
    expect(norm).toBeGreaterThan(0);
    expect(norm).toBeLessThanOrEqual(0.5 + 1e-4);
  }, 60_000);

  it('lists each buffer once for transfer', () => {
    const input = job('int8');
    const shared = new Float32Array(8);
    input.globalWeights = [shared.subarray(0, 4), shared.subarray(4)];
    const buffers = trainingTransferables(input);
    expect(buffers).toHaveLength(3);
    expect(new Set(buffers).size).toBe(3);
    expect(buffers).toContain(shared.buffer);
  });
});
