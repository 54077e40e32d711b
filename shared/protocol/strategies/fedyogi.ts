/**
 * FedYogi (Reddi et al. 2021, Algorithm 2). Defaults are Flower's FedYogi
 * (η 0.01, τ 1e-3) with the paper's β1 0.9, β2 0.99.
 */
import { z } from 'zod';
import { decayRate, defineStrategy, MEAN_SUPPORT, serverLearningRate } from './descriptor.ts';

export const fedyogi = defineStrategy({
  name: 'fedyogi',
  summary: 'server Yogi on the mean delta (Reddi et al. 2021)',
  options: z.strictObject({
    serverLearningRate: serverLearningRate(0.01),
    beta1: decayRate(0.9),
    beta2: decayRate(0.99),
    tau: z.number().positive().default(1e-3),
  }),
  ...MEAN_SUPPORT,
  optimizerSlots: ['m', 'v'],
});
