/**
 * Norm bounding's server side: the streaming sum scales each update down to
 * min(normBound, the round's own bound), then x ← x + Δ. Without a normBound
 * (a strategy not parsed through a plan) the round's bound is the bound.
 */
import { strategyDescriptor, type StrategyOptions } from '../../../shared/protocol/index.ts';
import { plainStep } from './server-step.ts';
import type { MeanServerStrategy } from './server-strategy.ts';

export function normBoundingServer(options: StrategyOptions<'norm-bounding'>): MeanServerStrategy {
  return {
    descriptor: strategyDescriptor('norm-bounding'),
    aggregate: 'weighted-mean',
    updateNormBound: (roundBound) => Math.min(options.normBound ?? roundBound, roundBound),
    step: (input) => plainStep(input, 1),
  };
}
