/**
 * The per-device share bound of the mean strategies (aggregation/weight-share.ts)
 * applied to a round at close. Every stored update was folded with its
 * admitted example count; the few whose count exceeds the ceiling are read
 * back from storage and retracted down to it, so the accumulator ends as if
 * they had been folded with the ceiling (memory stays O(parameters), and an
 * honest round within the bound reads nothing).
 *
 * Under central DP every update already weighs 1, so nothing is lowered
 * (`boundsDeviceWeights`, from the strategy's descriptor).
 */
import { boundsDeviceWeights, type TaskPlan } from '../../shared/protocol/index.ts';
import { maxWeightShare, weightCeiling, type Accumulator } from '../aggregation/index.ts';
import type { UpdateReceipt } from '../store/index.ts';

export interface DeviceShareBound {
  /** Updates whose weight was lowered to `ceiling`. */
  lowered: number;
  /** The common weight they were lowered to; null when none was. */
  ceiling: number | null;
}

/**
 * @example
 * const bound = await boundDeviceShares({ accumulator, updates, plan, read: (hash) => readUpdate(hash, specs) });
 */
export async function boundDeviceShares(o: {
  accumulator: Accumulator;
  /** The round's stored updates, each folded into `accumulator` once with weight `numExamples`. */
  updates: readonly UpdateReceipt[];
  plan: TaskPlan;
  read: (blobHash: string) => Promise<Float32Array[]>;
}): Promise<DeviceShareBound> {
  // The strategy's descriptor says whether its weights are bounded: mean strategies, without central DP.
  if (!boundsDeviceWeights(o.plan) || o.updates.length === 0) return { lowered: 0, ceiling: null };
  const share = maxWeightShare(o.plan.maxDeviceWeightFactor, o.updates.length);
  const ceiling = weightCeiling(
    o.updates.map((u) => u.numExamples),
    share,
  );
  if (ceiling === null) return { lowered: 0, ceiling: null };
  let lowered = 0;
  for (const u of o.updates) {
    if (u.numExamples <= ceiling) continue;
    o.accumulator.retract(await o.read(u.blobHash), u.numExamples - ceiling);
    lowered++;
  }
  return { lowered, ceiling };
}
