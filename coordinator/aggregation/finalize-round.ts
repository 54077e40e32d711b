/**
 * The one call the round logic makes at quorum or deadline: aggregate the
 * round's updates, privatize them if the task asks for central DP, and take
 * one server-optimizer step. Pure of I/O: the caller persists the returned
 * weights, optimizer state and next clip norm.
 */
import type { StrategyConfig, StrategyInput } from '../../shared/protocol/index.ts';
import type { Accumulator } from './accumulator.ts';
import { selectAggregationBackend } from './backend.ts';
import { adaptiveClipNoise, nextClipNorm, noisedUnclippedFraction, privatizeSum } from './central-dp.ts';
import { AggregationError } from './errors.ts';
import type { RobustOptions, UpdateSource } from './robust.ts';
import { serverStrategy, type ServerOptimizerState, type ServerStrategy } from './strategies/index.ts';
import { globalNorm, type WeightSpec } from './weight-spec.ts';

/**
 * How the round's updates were collected, as the strategy's `aggregate` asks:
 * summed into a streaming accumulator (`weighted-mean`), or every update kept
 * for the strategy to read at close (`robust`).
 */
export type RoundAggregate =
  | { kind: 'mean'; accumulator: Accumulator }
  | { kind: 'updates'; specs: readonly WeightSpec[]; source: UpdateSource; options?: RobustOptions };

export interface RoundDpConfig {
  /** S of this round; the accumulator must have been created with `normBound <= clipNorm`. */
  clipNorm: number;
  /** z as the accountant charges it (under adaptive clipping the value noise is slightly higher). */
  noiseMultiplier: number;
  /** Fixed denominator: the expected number of reporting clients. */
  expectedClients: number;
  adaptive?: {
    /** Clients whose update norm was <= clipNorm before clipping (the bit each reports). */
    unclippedCount: number;
    targetUnclippedQuantile?: number;
    learningRate?: number;
    clippedCountStddev?: number;
  };
}

export interface FinalizeRoundInput {
  /** The plan's strategy (options it leaves out get its descriptor's defaults). */
  strategy: StrategyInput | StrategyConfig;
  aggregate: RoundAggregate;
  globals: readonly Float32Array[];
  optimizerState: ServerOptimizerState | null;
  dp?: RoundDpConfig;
}

export interface RoundStats {
  clients: number;
  /** Sum of accumulator weights (examples for FedAvg, clients under DP); null for median / trimmed mean. */
  totalWeight: number | null;
  /** Updates scaled down by the accumulator's normBound. */
  boundedUpdates: number;
  /** L2 norm of the aggregated delta the strategy applied (after noise). */
  updateNorm: number;
  /** Stddev of the Gaussian noise added to the sum, or null without DP. */
  noiseStddev: number | null;
  backend: string;
  ms: number;
}

export interface FinalizeRoundResult {
  weights: Float32Array[];
  optimizerState: ServerOptimizerState;
  /** Clip norm for the next round under adaptive clipping, else null. */
  nextClipNorm: number | null;
  stats: RoundStats;
}

function checkDp(dp: RoundDpConfig, strategy: ServerStrategy, aggregate: RoundAggregate): Accumulator {
  const support = strategy.descriptor.centralDp;
  if (!support.supported) {
    throw new AggregationError(
      'dp-requires-mean',
      `strategy "${strategy.descriptor.name}" cannot take central DP: ${support.why}`,
    );
  }
  if (aggregate.kind !== 'mean') {
    throw new AggregationError(
      'dp-requires-mean',
      'central DP needs the streaming mean; a round that kept every update has a different sensitivity',
    );
  }
  const acc = aggregate.accumulator;
  if (acc.totalWeight !== acc.count) {
    throw new AggregationError(
      'dp-weighted-updates',
      'under central DP every update must be added with weight 1 (example weights break the sensitivity bound)',
    );
  }
  if (acc.normBound === null || acc.normBound > dp.clipNorm * (1 + 1e-9)) {
    throw new AggregationError(
      'dp-unbounded-accumulator',
      `under central DP create the accumulator with normBound <= clipNorm (${dp.clipNorm}), got ${acc.normBound}`,
    );
  }
  return acc;
}

/**
 * Closes a round. Does not dispose the accumulator (the caller owns it).
 *
 * @example
 * const result = await finalizeRound({
 *   strategy: { name: 'fedavg' },
 *   aggregate: { kind: 'mean', accumulator: acc },
 *   globals, optimizerState: task.optimizerState,
 * });
 * await store.saveVersion(result.weights, result.stats);
 */
export async function finalizeRound(input: FinalizeRoundInput): Promise<FinalizeRoundResult> {
  const started = performance.now();
  const backend = await selectAggregationBackend();
  const { aggregate, dp } = input;
  const strategy = serverStrategy(input.strategy);
  if ((strategy.aggregate === 'weighted-mean') !== (aggregate.kind === 'mean')) {
    throw new AggregationError(
      'bad-option',
      `strategy "${strategy.descriptor.name}" aggregates as a ${strategy.aggregate}, but the round collected ${aggregate.kind === 'mean' ? 'a streaming sum' : 'every update'}`,
    );
  }
  let meanDelta: Float32Array[];
  let noiseStddev: number | null = null;
  let next: number | null = null;
  let clients: number;

  if (dp) {
    const acc = checkDp(dp, strategy, aggregate);
    clients = acc.count;
    if (clients === 0)
      throw new AggregationError('no-updates', 'no update was added; the round fails without touching the model');
    if (dp.adaptive) {
      const { valueNoiseMultiplier, clippedCountStddev } = adaptiveClipNoise({
        noiseMultiplier: dp.noiseMultiplier,
        expectedClients: dp.expectedClients,
        clippedCountStddev: dp.adaptive.clippedCountStddev,
      });
      noiseStddev = valueNoiseMultiplier * dp.clipNorm;
      const unclippedFraction = noisedUnclippedFraction({
        unclippedCount: dp.adaptive.unclippedCount,
        reportedCount: clients,
        expectedClients: dp.expectedClients,
        clippedCountStddev,
      });
      next = nextClipNorm({
        clipNorm: dp.clipNorm,
        unclippedFraction,
        targetQuantile: dp.adaptive.targetUnclippedQuantile,
        learningRate: dp.adaptive.learningRate,
      });
    } else {
      noiseStddev = dp.noiseMultiplier * dp.clipNorm;
    }
    meanDelta = privatizeSum(acc.sum(), { noiseStddev, expectedClients: dp.expectedClients });
  } else if (aggregate.kind === 'mean') {
    clients = aggregate.accumulator.count;
    meanDelta = aggregate.accumulator.mean();
  } else if (strategy.aggregate === 'robust') {
    clients = aggregate.source.count;
    meanDelta = await strategy.delta(aggregate.specs, aggregate.source, aggregate.options);
  } else {
    throw new AggregationError(
      'bad-option',
      `strategy "${strategy.descriptor.name}" needs a streaming sum, but the round kept every update`,
    );
  }

  const { weights, state } = strategy.step({ globals: input.globals, delta: meanDelta, state: input.optimizerState });
  return {
    weights,
    optimizerState: state,
    nextClipNorm: next,
    stats: {
      clients,
      totalWeight: aggregate.kind === 'mean' ? aggregate.accumulator.totalWeight : null,
      boundedUpdates: aggregate.kind === 'mean' ? aggregate.accumulator.boundedCount : 0,
      updateNorm: globalNorm(meanDelta),
      noiseStddev,
      backend: backend.name,
      ms: performance.now() - started,
    },
  };
}
