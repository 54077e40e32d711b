/**
 * The distributed-DP side of a secure-aggregation round, derived once from
 * the task and the round's model version: which weights the devices sum (the
 * trainable ones, flattened in the version's order), the DDG plan at that
 * dimension, and the privacy event the round is charged. The devices derive
 * the same plan from the signed configuration (planDdg of its options with
 * the granularity chosen here), so the server decodes what they encoded.
 */
import type { DpEvent } from '../../../shared/dp/index.ts';
import { trainableWeightSpecs, type WeightSpec } from '../../../shared/model/index.ts';
import type { TaskPlan } from '../../../shared/protocol/index.ts';
import { type DdgPlan, ddgOptionsOfTask, ddgPrivacyEvent, planDdg } from '../../../shared/secagg/index.ts';
import type { ModelVersion, Store, Task } from '../../store/index.ts';
import { frozenLayersOf } from '../frozen-layers.ts';

export interface RoundDdg {
  /** The weights the devices send, in order: the version's trainable weights. */
  summed: WeightSpec[];
  /** What the signed configuration carries as `ddg`. */
  options: {
    clipNorm: number;
    noiseMultiplier: number;
    bits: number;
    maxDevices: number;
    minSurvivors: number;
    granularity: number;
  };
  plan: DdgPlan;
  /** The round's privacy event; null without device noise. */
  event: DpEvent | null;
}

export const parameterCount = (specs: readonly WeightSpec[]): number =>
  specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);

/**
 * @throws SecAggError('bad-parameters') when the plan cannot encode at this dimension (refused at task creation already)
 * @example const { plan, event } = await roundDdg(store, task, version);
 */
export async function roundDdg(store: Store, task: Task, version: ModelVersion): Promise<RoundDdg> {
  const plan: TaskPlan = task.plan;
  const summed = trainableWeightSpecs(version.weightSpecs, await frozenLayersOf(store, version));
  const dimension = parameterCount(summed);
  const clipNorm = task.clipNorm ?? plan.clipNorm;
  const chosen = planDdg(ddgOptionsOfTask({ ...plan, clipNorm }, dimension));
  const { dimension: _d, ...rest } = ddgOptionsOfTask({ ...plan, clipNorm }, dimension);
  const options = { ...rest, granularity: chosen.granularity };
  const ddg = planDdg({ dimension, ...options });
  return { summed, options, plan: ddg, event: ddg.noiseMultiplier > 0 ? ddgPrivacyEvent(ddg) : null };
}
