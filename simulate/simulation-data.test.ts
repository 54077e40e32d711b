import { describe, expect, it } from 'vitest';
import { compilePreprocess } from '../shared/preprocess/index.ts';
import { MODEL_SPEC_FILE, ModelSpecSchema } from '../shared/protocol/index.ts';
import { mailText, spamAssassinSplit } from './datasets/spamassassin.ts';
import { runSimulation } from './run-simulation.ts';
import { loadSimulationData } from './simulation-data.ts';
import { useTrainingBackend } from './tfjs-node-backend.ts';

describe('spamassassin simulation data', () => {
  it('computes the features the pushed spec computes, and ships that spec with the model', async () => {
    // Importing the simulator registers tfjs's wasm backend first; make the model on it, as runSimulation does.
    await useTrainingBackend();
    const data = loadSimulationData('spamassassin', 'logistic', { trainExamples: 200, evalExamples: 100 });
    expect(data.inputShape).toEqual([4096]);
    expect(data.train.y.length).toBe(200);
    expect(new Set(data.train.y)).toEqual(new Set([0, 1]));
    const files = await data.modelFiles(1);
    const spec = ModelSpecSchema.parse(JSON.parse(new TextDecoder().decode(files.get(MODEL_SPEC_FILE))));
    expect(spec.output).toEqual({ kind: 'multiclass', labels: ['ham', 'spam'] });
    // The held-out mail's features, recomputed from the shipped spec, are the simulator's.
    const first = spamAssassinSplit().test[0];
    const again = compilePreprocess(spec.preprocess).apply(mailText(first));
    expect(Array.from(again)).toEqual(Array.from(data.test.x.subarray(0, 4096)));
  });

  it('refuses a text model on MNIST and an MNIST model on mails', () => {
    expect(() => loadSimulationData('mnist', 'logistic')).toThrow(RangeError);
    expect(() => loadSimulationData('spamassassin', '2nn')).toThrow(RangeError);
  });

  it('trains through a real coordinator and reports F1, AUC and the central baseline in one result', async () => {
    const result = await runSimulation({
      dataset: 'spamassassin',
      model: 'logistic',
      clients: 4,
      fraction: 1,
      epochs: 1,
      batch: 10,
      lr: 1,
      partition: 'iid',
      alpha: 0.5,
      rounds: 2,
      target: 0.99,
      strategy: 'fedavg',
      encoding: 'fp32',
      topkFraction: 0.1,
      noiseMultiplier: 0,
      dropout: 0,
      stragglers: 0,
      seed: 1,
      workers: 0,
      evalExamples: 300,
      trainExamples: 600,
    });
    expect(result.history).toHaveLength(3);
    expect(result.history[2].auc).toBeGreaterThan(0.8);
    expect(result.finalAccuracy).toBeGreaterThan(result.initialAccuracy);
    expect(result.f1).toBe(result.history[2].f1);
    expect(result.central?.epochs).toBe(2);
    expect(result.central?.examples).toBe(600);
    expect(result.centralAccuracy).toBeGreaterThan(0.7);
  }, 120_000);
});
