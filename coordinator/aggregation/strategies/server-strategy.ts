/**
 * The server side of a strategy, one implementation per file in this folder,
 * each answering to its descriptor in shared/protocol/strategies/ (what the
 * plan knows: options, defaults, what the strategy supports). The round logic
 * asks an implementation how to collect a round's updates and hands it the
 * pseudo-gradient Δ to step with; it never switches on a strategy's name.
 *
 * Collecting, by `aggregate`:
 * - `weighted-mean`: updates are folded into a streaming accumulator as they
 *   arrive; `updateNormBound` says the per-update norm bound of that sum;
 * - `robust`: every update is kept and `delta` computes Δ from all of them at close.
 */
import type { StrategyDescriptor } from '../../../shared/protocol/index.ts';
import type { WeightSpec } from '../weight-spec.ts';
import type { RobustOptions, UpdateSource } from '../robust.ts';

/** Serializable optimizer state: store it with the task and pass it back next round. */
export interface ServerOptimizerState {
  step: number;
  slots: Record<string, Float32Array[]>;
}

/** The state before the first round. */
export function initialOptimizerState(): ServerOptimizerState {
  return { step: 0, slots: {} };
}

export interface ServerStepInput {
  globals: readonly Float32Array[];
  /** Δ: the aggregated delta of the round (mean, median, DP mean...). */
  delta: readonly Float32Array[];
  state: ServerOptimizerState | null;
}

export interface ServerStepResult {
  weights: Float32Array[];
  state: ServerOptimizerState;
}

interface ServerStrategyCommon {
  readonly descriptor: StrategyDescriptor;
  /**
   * One server step: the new global weights and the next optimizer state
   * (slots named by `descriptor.optimizerSlots`, `step` one more). Called once
   * per closed round; inputs are not mutated. Throws AggregationError
   * `optimizer-state-mismatch` when `state` does not fit the model.
   */
  step(input: ServerStepInput): ServerStepResult;
}

export interface MeanServerStrategy extends ServerStrategyCommon {
  readonly aggregate: 'weighted-mean';
  /**
   * The bound on each update's L2 norm in the round's streaming sum, given the
   * bound the round already enforces (clipNorm under central DP, else the
   * upload bound). Called once per round, when its accumulator is created;
   * must not exceed `roundBound` (central DP's sensitivity relies on it).
   */
  updateNormBound(roundBound: number): number;
}

export interface RobustServerStrategy extends ServerStrategyCommon {
  readonly aggregate: 'robust';
  /** Δ from every update of the round, read from `source` (unweighted). Called once, at close. */
  delta(specs: readonly WeightSpec[], source: UpdateSource, options?: RobustOptions): Promise<Float32Array[]>;
}

export type ServerStrategy = MeanServerStrategy | RobustServerStrategy;
