/** FedAvg's server side: x ← x + η Δ over the streaming weighted mean. */
import { strategyDescriptor, type StrategyOptions } from '../../../shared/protocol/index.ts';
import { plainStep } from './server-step.ts';
import type { MeanServerStrategy } from './server-strategy.ts';

export function fedavgServer(options: StrategyOptions<'fedavg'>): MeanServerStrategy {
  return {
    descriptor: strategyDescriptor('fedavg'),
    aggregate: 'weighted-mean',
    updateNormBound: (roundBound) => roundBound,
    step: (input) => plainStep(input, options.serverLearningRate),
  };
}
