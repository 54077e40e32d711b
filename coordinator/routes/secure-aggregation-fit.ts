/**
 * The part of a secure-aggregation plan only the model can decide: whether
 * the distributed discrete Gaussian fits the plan's bit width at this
 * model's parameter count (rounding and noise of every selected device
 * within 2^(bits-1) at some granularity, per-device noise >= 1/4). The
 * schema refuses the rest (shared/protocol/secure-aggregation.ts); this runs
 * at task creation, once the model version is known, so a plan whose rounds
 * could never encode is refused instead of failing at its first round.
 */
import type { WeightSpec } from '../../shared/model/index.ts';
import type { TaskPlan } from '../../shared/protocol/index.ts';
import { SecAggError, ddgOptionsOfTask, planDdg } from '../../shared/secagg/index.ts';
import { ApiError } from '../http/api-error.ts';

/** Throws a 400 validation_failed naming plan.secureAggregation when the DDG cannot be planned for `specs`. */
export function checkSecureAggregationFits(plan: TaskPlan, specs: readonly WeightSpec[]): void {
  if (!plan.secureAggregation) return;
  const dimension = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  try {
    planDdg(ddgOptionsOfTask(plan, dimension));
  } catch (error) {
    if (!(error instanceof SecAggError)) throw error;
    const message = `secureAggregation does not fit this model's ${dimension} parameters: ${error.message}`;
    throw new ApiError('validation_failed', `plan.secureAggregation: ${message}`, {
      issues: [{ path: 'plan.secureAggregation', message }],
    });
  }
}
