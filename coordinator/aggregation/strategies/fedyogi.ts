/** FedYogi's server side (Reddi et al. 2021): v ← v − (1−β2) Δ² sign(v − Δ²). */
import * as tf from '@tensorflow/tfjs';
import { strategyDescriptor, type StrategyOptions } from '../../../shared/protocol/index.ts';
import { adaptiveServer } from './adaptive-optimizer.ts';
import type { MeanServerStrategy } from './server-strategy.ts';

export function fedyogiServer(options: StrategyOptions<'fedyogi'>): MeanServerStrategy {
  const { beta2 } = options;
  return adaptiveServer(strategyDescriptor('fedyogi'), options, (v, d2) =>
    tf.sub(v, tf.mul(tf.mul(d2, tf.sign(tf.sub(v, d2))), 1 - beta2)),
  );
}
