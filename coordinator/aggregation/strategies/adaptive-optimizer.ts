/**
 * The adaptive server optimizers of Reddi et al. 2021, "Adaptive Federated
 * Optimization" (Algorithm 2), in the paper's notation; FedAdam, FedYogi and
 * FedAdagrad differ only in the second moment v:
 *
 *   m ← β1 m + (1−β1) Δ;   v ← secondMoment(v, Δ²);   x ← x + η m / (√v + τ)
 *
 * As in the paper there is no bias correction and v starts at τ² (the paper
 * asks v₋₁ ≥ τ²). m and v are the slots "m" and "v" the round logic persists.
 */
import * as tf from '@tensorflow/tfjs';
import type { StrategyDescriptor } from '../../../shared/protocol/index.ts';
import { serverStep } from './server-step.ts';
import type { MeanServerStrategy } from './server-strategy.ts';

export interface AdaptiveOptions {
  serverLearningRate: number;
  beta1: number;
  tau: number;
}

/** v's update from its previous value and Δ² (both tensors of one weight tensor's length). */
export type SecondMoment = (v: tf.Tensor1D, deltaSquared: tf.Tensor) => tf.Tensor;

export function adaptiveServer(
  descriptor: StrategyDescriptor,
  options: AdaptiveOptions,
  secondMoment: SecondMoment,
): MeanServerStrategy {
  const { serverLearningRate: eta, beta1, tau } = options;
  return {
    descriptor,
    aggregate: 'weighted-mean',
    updateNormBound: (roundBound) => roundBound,
    step: (input) =>
      serverStep(input, {
        slots: descriptor.optimizerSlots,
        initialSlotValue: (slot) => (slot === 'v' ? tau * tau : 0),
        update: (x, delta, slots) => {
          const m = tf.add(tf.mul(slots.m, beta1), tf.mul(delta, 1 - beta1));
          const v = secondMoment(slots.v, tf.square(delta));
          return { weights: tf.add(x, tf.mul(tf.div(m, tf.add(tf.sqrt(v), tau)), eta)), slots: { m, v } };
        },
      }),
  };
}
