/**
 * From a task plan's `secureAggregation` field to the round's DDG options:
 * the one place that says which plan field becomes which DDG parameter, so
 * the coordinator's rounds, the devices and `flock simulate` derive the same
 * plan (and so the same granularity, sensitivity and noise) from one task.
 *
 * @example
 * const plan = planDdg(ddgOptionsOfTask(task.plan, parameterCount));
 * accountant.compose(ddgPrivacyEvent(plan));
 */
import type { DdgOptions } from './ddg.ts';
import { SecAggError } from './secagg-error.ts';

/** The plan fields the DDG reads (a parsed TaskPlan has them all). */
export interface SecureAggregationTaskPlan {
  clipNorm: number;
  clientsPerRound: number;
  overSelection: number;
  minReports: number;
  /** The parsed plan field (shared/protocol/secure-aggregation.ts), read structurally so this folder needs no zod. */
  secureAggregation?: { bits: number; noiseMultiplier: number; minSurvivors?: number };
}

/** The devices a round selects, as coordinator/rounds/pace.ts and the plan's overflow check count them. */
function selectedDevices(plan: { clientsPerRound: number; overSelection: number }): number {
  return Math.max(plan.clientsPerRound, Math.ceil(plan.clientsPerRound * plan.overSelection));
}

/**
 * maxDevices = the devices a round selects (ceil(clientsPerRound x overSelection)),
 * minSurvivors = the plan's (default minReports), noise and bits as written.
 */
export function ddgOptionsOfTask(plan: SecureAggregationTaskPlan, dimension: number): DdgOptions {
  const s = plan.secureAggregation;
  if (!s) throw new SecAggError('bad-parameters', 'the task plan has no secureAggregation field');
  return {
    dimension,
    clipNorm: plan.clipNorm,
    noiseMultiplier: s.noiseMultiplier,
    bits: s.bits,
    maxDevices: selectedDevices(plan),
    minSurvivors: s.minSurvivors ?? Math.max(2, plan.minReports),
  };
}
