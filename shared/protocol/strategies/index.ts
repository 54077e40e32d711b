/**
 * The registry of server strategies: one descriptor per strategy, in the
 * order help texts list them. The plan's StrategySchema, the names and the
 * defaults all derive from it; the coordinator's implementations are keyed
 * by the same names (coordinator/aggregation/strategies/).
 */
import type { z } from 'zod';
import { fedadagrad } from './fedadagrad.ts';
import { fedadam } from './fedadam.ts';
import { fedavg } from './fedavg.ts';
import { fedavgm } from './fedavgm.ts';
import { fedyogi } from './fedyogi.ts';
import { median } from './median.ts';
import { normBounding } from './norm-bounding.ts';
import { trimmedMean } from './trimmed-mean.ts';

export { defineStrategy, type StrategyDescriptor, type Support } from './descriptor.ts';

/** Every strategy a plan may name. */
export const STRATEGIES = [fedavg, fedavgm, fedadam, fedyogi, fedadagrad, median, trimmedMean, normBounding] as const;

type Registered = (typeof STRATEGIES)[number];
export type StrategyName = Registered['name'];

const [FIRST, ...REST] = STRATEGIES;
/** Every strategy's name, as a non-empty tuple (what `z.enum` takes). */
export const STRATEGY_NAMES: readonly [StrategyName, ...StrategyName[]] = [FIRST.name, ...REST.map((d) => d.name)];

/** A parsed strategy: its name and every option it reads, defaults filled. */
export type StrategyConfig = {
  [D in Registered as D['name']]: { name: D['name'] } & z.output<D['options']>;
}[StrategyName];
/** The options of one strategy, parsed. */
export type StrategyOptions<N extends StrategyName> = Omit<Extract<StrategyConfig, { name: N }>, 'name'>;

const BY_NAME = new Map<string, Registered>(STRATEGIES.map((d) => [d.name, d]));

/**
 * The descriptor of a strategy.
 *
 * @example
 * strategyDescriptor('median').centralDp // { supported: false, why: 'its sensitivity is not clipNorm' }
 */
export function strategyDescriptor<N extends StrategyName>(name: N): Extract<Registered, { name: N }> {
  const d = BY_NAME.get(name);
  if (!d) throw new Error(`unknown strategy "${name}"; use one of ${STRATEGY_NAMES.join(', ')}`);
  return d as Extract<Registered, { name: N }>;
}

/** Each strategy's options with nothing given: the defaults that run. */
export const STRATEGY_DEFAULTS = Object.fromEntries(STRATEGIES.map((d) => [d.name, d.options.parse({})])) as {
  [N in StrategyName]: StrategyOptions<N>;
};

/** The names of the strategies a setting supports, for "use one of ..." hints. */
export function strategiesSupporting(setting: 'centralDp' | 'secureAggregation'): StrategyName[] {
  return STRATEGIES.filter((d) => d[setting].supported).map((d) => d.name);
}

/**
 * Whether a plan bounds each device's share of the round's weight
 * (`maxDeviceWeightFactor`): strategies that weight updates by example
 * counts, and only without central DP or secure aggregation (under them every update weighs 1).
 *
 * @example boundsDeviceWeights({ strategy: { name: 'fedavg' }, noiseMultiplier: 0 }) // true
 */
export function boundsDeviceWeights(plan: {
  strategy: { name: StrategyName };
  noiseMultiplier: number;
  secureAggregation?: unknown;
}): boolean {
  // Under secure aggregation, as under central DP, every update weighs 1: the sum hides the counts.
  return (
    strategyDescriptor(plan.strategy.name).deviceWeightBounding &&
    plan.noiseMultiplier === 0 &&
    plan.secureAggregation === undefined
  );
}
