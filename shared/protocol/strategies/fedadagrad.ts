/**
 * FedAdagrad (Reddi et al. 2021, Algorithm 2). Defaults are Flower's
 * FedAdagrad (η 0.1, τ 1e-9); β1 is fixed at the paper's 0.9, not an option.
 */
import { z } from 'zod';
import { defineStrategy, MEAN_SUPPORT, serverLearningRate } from './descriptor.ts';

export const fedadagrad = defineStrategy({
  name: 'fedadagrad',
  summary: 'server Adagrad on the mean delta (Reddi et al. 2021)',
  options: z.strictObject({
    serverLearningRate: serverLearningRate(0.1),
    tau: z.number().positive().default(1e-9),
  }),
  ...MEAN_SUPPORT,
  optimizerSlots: ['m', 'v'],
});
