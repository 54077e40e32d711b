/**
 * FedAdam (Reddi et al. 2021, Algorithm 2). Defaults are Flower's FedAdam
 * (η 0.1, τ 1e-9) with the paper's β1 0.9, β2 0.99.
 */
import { z } from 'zod';
import { decayRate, defineStrategy, MEAN_SUPPORT, serverLearningRate } from './descriptor.ts';

export const fedadam = defineStrategy({
  name: 'fedadam',
  summary: 'server Adam on the mean delta (Reddi et al. 2021)',
  options: z.strictObject({
    serverLearningRate: serverLearningRate(0.1),
    beta1: decayRate(0.9),
    beta2: decayRate(0.99),
    tau: z.number().positive().default(1e-9),
  }),
  ...MEAN_SUPPORT,
  optimizerSlots: ['m', 'v'],
});
