/**
 * What the plan knows about a server strategy: its name, the options it reads
 * (one zod schema holding their ranges and their defaults, the only defaults
 * there are), and what it needs from a round. Plan validation and the
 * coordinator ask a descriptor these questions instead of switching on names,
 * so a new strategy is one descriptor here plus one server file in
 * coordinator/aggregation/strategies/.
 */
import { z } from 'zod';

/** Whether a strategy runs under some round setting, and if not, why (said to the operator). */
export type Support = { supported: true } | { supported: false; why: string };

export const SUPPORTED: Support = { supported: true };

export interface StrategyDescriptor<Name extends string = string, Options extends z.ZodObject = z.ZodObject> {
  readonly name: Name;
  /** One line for help texts and docs. */
  readonly summary: string;
  /**
   * The options the strategy reads, each with its range and default
   * (`.default(...)`), or optional where the plan fills it. Options absent
   * here are refused in a plan naming this strategy.
   */
  readonly options: Options;
  /**
   * How the round's updates become the pseudo-gradient Δ:
   * - `weighted-mean`: folded into a streaming sum as they arrive (memory
   *   O(parameters)), weighted by admitted example counts (1 each under central DP);
   * - `robust`: an order statistic over all the round's updates at close, unweighted.
   */
  readonly aggregate: 'weighted-mean' | 'robust';
  /** State the server optimizer keeps between rounds, by slot name; empty when it keeps none. */
  readonly optimizerSlots: readonly string[];
  /** Central DP (noise on the sum, sensitivity clipNorm): needs a mean of clipped, equally weighted updates. */
  readonly centralDp: Support;
  /** Secure aggregation: the coordinator would see only the sum of masked updates, never one of them. */
  readonly secureAggregation: Support;
  /**
   * Whether no device's share of the round's weight may exceed
   * `maxDeviceWeightFactor / n` (coordinator/aggregation/weight-share.ts).
   * Only meaningful where updates are weighted by example counts, so the
   * bound applies without central DP only (see `boundsDeviceWeights`).
   */
  readonly deviceWeightBounding: boolean;
  /**
   * Defaults that depend on the rest of the plan, filled at plan parse where
   * the operator gave none (norm-bounding's `normBound` is the plan's `clipNorm`).
   */
  readonly planDefaults?: (plan: { clipNorm: number }) => Partial<z.output<Options>>;
}

/**
 * Declares a strategy; the literal name and the options' types flow into the plan's types.
 *
 * @example
 * export const fedavgm = defineStrategy({ name: 'fedavgm', options: z.strictObject({ momentum: z.number().min(0).lt(1).default(0.9) }), ... });
 */
export function defineStrategy<const Name extends string, Options extends z.ZodObject>(
  d: StrategyDescriptor<Name, Options>,
): StrategyDescriptor<Name, Options> {
  return d;
}

/** η of the server step x ← x + η·(step direction), for the strategies that let the operator set it. */
export const serverLearningRate = (byDefault: number) => z.number().positive().default(byDefault);

/** β1, β2, μ: decay rates in [0, 1). */
export const decayRate = (byDefault: number) => z.number().min(0).lt(1).default(byDefault);

/** What a mean of example-weighted updates supports: central DP, secure aggregation, the per-device weight bound. */
export const MEAN_SUPPORT = {
  aggregate: 'weighted-mean',
  centralDp: SUPPORTED,
  secureAggregation: SUPPORTED,
  deviceWeightBounding: true,
} as const;
