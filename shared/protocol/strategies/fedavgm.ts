/** FedAvgM (Hsu et al. 2019): server momentum, u ← μ u + Δ; x ← x + η u. */
import { z } from 'zod';
import { decayRate, defineStrategy, MEAN_SUPPORT, serverLearningRate } from './descriptor.ts';

export const fedavgm = defineStrategy({
  name: 'fedavgm',
  summary: 'FedAvg with server momentum (Hsu et al. 2019)',
  options: z.strictObject({ serverLearningRate: serverLearningRate(1), momentum: decayRate(0.9) }),
  ...MEAN_SUPPORT,
  optimizerSlots: ['momentum'],
});
