/** FedAdam's server side (Reddi et al. 2021): v ← β2 v + (1−β2) Δ². */
import * as tf from '@tensorflow/tfjs';
import { strategyDescriptor, type StrategyOptions } from '../../../shared/protocol/index.ts';
import { adaptiveServer } from './adaptive-optimizer.ts';
import type { MeanServerStrategy } from './server-strategy.ts';

export function fedadamServer(options: StrategyOptions<'fedadam'>): MeanServerStrategy {
  const { beta2 } = options;
  return adaptiveServer(strategyDescriptor('fedadam'), options, (v, d2) =>
    tf.add(tf.mul(v, beta2), tf.mul(d2, 1 - beta2)),
  );
}
