/**
 * The coordinator's aggregation engine: backend selection, the streaming
 * accumulator, the server side of each strategy (strategies/), robust aggregators, central DP, and
 * `finalizeRound` that ties them together. No I/O: the round logic feeds it
 * decoded updates and persists what it returns.
 */
export { AggregationError, type AggregationErrorCode } from './errors.ts';
export { tensorSizes, globalNorm, type WeightSpec } from './weight-spec.ts';
export {
  selectAggregationBackend,
  currentAggregationBackend,
  type AggregationBackend,
  type AggregationBackendName,
  type AggregationBackendPreference,
  type BackendAttempt,
} from './backend.ts';
export { createAccumulator, type Accumulator, type AccumulatorOptions } from './accumulator.ts';
export { maxWeightShare, weightCeiling } from './weight-share.ts';
export {
  serverStrategy,
  initialOptimizerState,
  type MeanServerStrategy,
  type RobustServerStrategy,
  type ServerOptimizerState,
  type ServerStepInput,
  type ServerStepResult,
  type ServerStrategy,
} from './strategies/index.ts';
export { coordinateMedian, trimmedMean, type RobustOptions, type UpdateSource } from './robust.ts';
export {
  ADAPTIVE_CLIP_DEFAULTS,
  adaptiveClipNoise,
  nextClipNorm,
  noisedUnclippedFraction,
  privatizeSum,
} from './central-dp.ts';
export {
  finalizeRound,
  type FinalizeRoundInput,
  type FinalizeRoundResult,
  type RoundAggregate,
  type RoundDpConfig,
  type RoundStats,
} from './finalize-round.ts';
