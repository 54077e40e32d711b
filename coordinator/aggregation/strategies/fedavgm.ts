/** FedAvgM's server side (Hsu et al. 2019): u ← μ u + Δ; x ← x + η u, u kept in slot "momentum". */
import * as tf from '@tensorflow/tfjs';
import { strategyDescriptor, type StrategyOptions } from '../../../shared/protocol/index.ts';
import { serverStep } from './server-step.ts';
import type { MeanServerStrategy } from './server-strategy.ts';

export function fedavgmServer(options: StrategyOptions<'fedavgm'>): MeanServerStrategy {
  const descriptor = strategyDescriptor('fedavgm');
  const { serverLearningRate: eta, momentum: mu } = options;
  return {
    descriptor,
    aggregate: 'weighted-mean',
    updateNormBound: (roundBound) => roundBound,
    step: (input) =>
      serverStep(input, {
        slots: descriptor.optimizerSlots,
        update: (x, delta, slots) => {
          const u = tf.add(tf.mul(slots.momentum, mu), delta);
          return { weights: tf.add(x, tf.mul(u, eta)), slots: { momentum: u } };
        },
      }),
  };
}
