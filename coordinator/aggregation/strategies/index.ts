/**
 * The server side of every strategy, keyed by the names of the shared
 * registry (shared/protocol/strategies/): a strategy added there without a
 * server file here does not compile. `serverStrategy` is the one way the
 * round logic gets one.
 */
import {
  strategyDescriptor,
  type StrategyConfig,
  type StrategyDescriptor,
  type StrategyInput,
  type StrategyName,
  type StrategyOptions,
} from '../../../shared/protocol/index.ts';
import { AggregationError } from '../errors.ts';
import { fedadagradServer } from './fedadagrad.ts';
import { fedadamServer } from './fedadam.ts';
import { fedavgServer } from './fedavg.ts';
import { fedavgmServer } from './fedavgm.ts';
import { fedyogiServer } from './fedyogi.ts';
import { medianServer } from './median.ts';
import { normBoundingServer } from './norm-bounding.ts';
import type { ServerStrategy } from './server-strategy.ts';
import { trimmedMeanServer } from './trimmed-mean.ts';

export type {
  MeanServerStrategy,
  RobustServerStrategy,
  ServerOptimizerState,
  ServerStepInput,
  ServerStepResult,
  ServerStrategy,
} from './server-strategy.ts';
export { initialOptimizerState } from './server-strategy.ts';

const SERVERS: { [N in StrategyName]: (options: StrategyOptions<N>) => ServerStrategy } = {
  fedavg: fedavgServer,
  fedavgm: fedavgmServer,
  fedadam: fedadamServer,
  fedyogi: fedyogiServer,
  fedadagrad: fedadagradServer,
  median: medianServer,
  'trimmed-mean': trimmedMeanServer,
  'norm-bounding': normBoundingServer,
};

/**
 * The server side of a plan's strategy. Options it leaves out get the
 * descriptor's defaults (a parsed plan has them all already); a bad option is
 * AggregationError `bad-option`.
 *
 * @example
 * const strategy = serverStrategy(plan.strategy);
 * const { weights, state } = strategy.step({ globals, delta, state: saved });
 */
export function serverStrategy(config: StrategyInput | StrategyConfig): ServerStrategy {
  const make = SERVERS[config.name] as ((options: unknown) => ServerStrategy) | undefined;
  if (!make)
    throw new AggregationError(
      'bad-option',
      `unknown strategy "${config.name}"; use one of ${Object.keys(SERVERS).join(', ')}`,
    );
  const descriptor: StrategyDescriptor = strategyDescriptor(config.name);
  const { name: _name, ...given } = config as Record<string, unknown>;
  const parsed = descriptor.options.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AggregationError(
      'bad-option',
      `strategy "${config.name}": ${issue.path.join('.') || 'options'}: ${issue.message}`,
      { strategy: config.name },
    );
  }
  return make(parsed.data);
}
