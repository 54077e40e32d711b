/**
 * The one call the round logic makes at quorum or deadline: aggregate the
 * round's updates, privatize them if the task asks for central DP, and take
 * one server-optimizer step. Pure of I/O: the caller persists the returned
 * weights, optimizer state and next clip norm.
 */
import type { Accumulator } from './accumulator.ts';
import { selectAggregationBackend } from './backend.ts';
import { adaptiveClipNoise, nextClipNorm, noisedUnclippedFraction, privatizeSum } from './central-dp.ts';
import { AggregationError } from './errors.ts';
import { coordinateMedian, trimmedMean, type RobustOptions, type UpdateSource } from './robust.ts';
import { applyStrategy, type ServerOptimizerState, type StrategyConfig } from './strategies.ts';
import { globalNorm, type WeightSpec } from './weight-spec.ts';

/** How the round's updates were collected. */
export type RoundAggregate =
  | { kind: 'mean'; accumulator: Accumulator }
  | { kind: 'median'; specs: readonly WeightSpec[]; source: UpdateSource; options?: RobustOptions }
  | { kind: 'trimmed-mean'; specs: readonly WeightSpec[]; source: UpdateSource; trimFraction: number; options?: RobustOptions };

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
  strategy: StrategyConfig;
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

function checkDp(dp: RoundDpConfig, aggregate: RoundAggregate): Accumulator {
  if (aggregate.kind !== 'mean') {
    throw new AggregationError('dp-requires-mean', `central DP needs the streaming mean; ${aggregate.kind} has a different sensitivity`);
  }
  const acc = aggregate.accumulator;
  if (acc.totalWeight !== acc.count) {
    throw new AggregationError('dp-weighted-updates', 'under central DP every update must be added with weight 1 (example weights break the sensitivity bound)');
  }
  if (acc.normBound === null || acc.normBound > dp.clipNorm * (1 + 1e-9)) {
    throw new AggregationError('dp-unbounded-accumulator', `under central DP create the accumulator with normBound <= clipNorm (${dp.clipNorm}), got ${acc.normBound}`);
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
  let meanDelta: Float32Array[];
  let noiseStddev: number | null = null;
  let next: number | null = null;
  let clients: number;

  if (dp) {
    const acc = checkDp(dp, aggregate);
    clients = acc.count;
    if (clients === 0) throw new AggregationError('no-updates', 'no update was added; the round fails without touching the model');
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
      next = nextClipNorm({ clipNorm: dp.clipNorm, unclippedFraction, targetQuantile: dp.adaptive.targetUnclippedQuantile, learningRate: dp.adaptive.learningRate });
    } else {
      noiseStddev = dp.noiseMultiplier * dp.clipNorm;
    }
    meanDelta = privatizeSum(acc.sum(), { noiseStddev, expectedClients: dp.expectedClients });
  } else if (aggregate.kind === 'mean') {
    clients = aggregate.accumulator.count;
    meanDelta = aggregate.accumulator.mean();
  } else {
    clients = aggregate.source.count;
    meanDelta =
      aggregate.kind === 'median'
        ? await coordinateMedian(aggregate.specs, aggregate.source, aggregate.options)
        : await trimmedMean(aggregate.specs, aggregate.source, aggregate.trimFraction, aggregate.options);
  }

  const { weights, state } = applyStrategy({ strategy: input.strategy, globals: input.globals, meanDelta, state: input.optimizerState });
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
