/** Coordinate-wise median's server side: Δ the median of every update (robust.ts), then x ← x + Δ. */
import { strategyDescriptor, type StrategyOptions } from '../../../shared/protocol/index.ts';
import { coordinateMedian } from '../robust.ts';
import { plainStep } from './server-step.ts';
import type { RobustServerStrategy } from './server-strategy.ts';

export function medianServer(_options: StrategyOptions<'median'>): RobustServerStrategy {
  return {
    descriptor: strategyDescriptor('median'),
    aggregate: 'robust',
    delta: (specs, source, robust) => coordinateMedian(specs, source, robust),
    step: (input) => plainStep(input, 1),
  };
}
