/** FedAvg (McMahan et al. 2017): x ← x + η Δ, Δ the example-weighted mean of the round's deltas. */
import { z } from 'zod';
import { defineStrategy, MEAN_SUPPORT, serverLearningRate } from './descriptor.ts';

export const fedavg = defineStrategy({
  name: 'fedavg',
  summary: 'weighted mean of the deltas, x ← x + η Δ',
  options: z.strictObject({ serverLearningRate: serverLearningRate(1) }),
  ...MEAN_SUPPORT,
  optimizerSlots: [],
});
