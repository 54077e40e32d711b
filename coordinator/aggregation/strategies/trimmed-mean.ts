/** Coordinate-wise trimmed mean's server side: Δ the trimmed mean of every update (robust.ts), then x ← x + Δ. */
import { strategyDescriptor, type StrategyOptions } from '../../../shared/protocol/index.ts';
import { trimmedMean } from '../robust.ts';
import { plainStep } from './server-step.ts';
import type { RobustServerStrategy } from './server-strategy.ts';

export function trimmedMeanServer(options: StrategyOptions<'trimmed-mean'>): RobustServerStrategy {
  return {
    descriptor: strategyDescriptor('trimmed-mean'),
    aggregate: 'robust',
    delta: (specs, source, robust) => trimmedMean(specs, source, options.trimFraction, robust),
    step: (input) => plainStep(input, 1),
  };
}
