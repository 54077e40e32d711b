/** FedAdagrad's server side (Reddi et al. 2021): v ← v + Δ². */
import * as tf from '@tensorflow/tfjs';
import { strategyDescriptor, type StrategyOptions } from '../../../shared/protocol/index.ts';
import { adaptiveServer } from './adaptive-optimizer.ts';
import type { MeanServerStrategy } from './server-strategy.ts';

/** Not a plan option: Reddi et al. fix β1 = 0.9 for all three adaptive optimizers. */
const BETA1 = 0.9;

export function fedadagradServer(options: StrategyOptions<'fedadagrad'>): MeanServerStrategy {
  return adaptiveServer(strategyDescriptor('fedadagrad'), { ...options, beta1: BETA1 }, (v, d2) => tf.add(v, d2));
}
