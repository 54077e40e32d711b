/**
 * The task's privacy ledger: each round with central noise is one
 * Poisson-subsampled Gaussian step with q = clientsPerRound / population.
 * A round that would push epsilon past the task's budget does not start.
 */
import { RdpAccountant, type DpEvent } from '../../shared/dp/index.ts';
import type { TaskPlan } from '../../shared/protocol/index.ts';
import type { AccountantState } from '../store/index.ts';

/** delta used to report epsilon when the plan has no budget. */
export const DEFAULT_REPORT_DELTA = 1e-5;

export function roundEvent(plan: TaskPlan): DpEvent {
  return { kind: 'poisson-sampled-gaussian', samplingRate: Math.min(1, plan.clientsPerRound / plan.population), noiseMultiplier: plan.noiseMultiplier };
}

export function accountantOf(state: AccountantState | null | undefined): RdpAccountant {
  return state && state.orders?.length ? RdpAccountant.fromJSON(state) : new RdpAccountant();
}

/** Epsilon after charging one more round, and whether that fits the budget. */
export function nextRoundPrivacy(plan: TaskPlan, state: AccountantState | null | undefined): { epsilonAfter: number | null; allowed: boolean } {
  if (plan.noiseMultiplier <= 0) return { epsilonAfter: null, allowed: true };
  const accountant = accountantOf(state).compose(roundEvent(plan));
  const delta = plan.privacyBudget?.delta ?? DEFAULT_REPORT_DELTA;
  const epsilonAfter = accountant.getEpsilon(delta);
  return { epsilonAfter, allowed: !plan.privacyBudget || epsilonAfter <= plan.privacyBudget.epsilon };
}

/** Charges one round; returns the new state and the epsilon spent so far. */
export function chargeRound(plan: TaskPlan, state: AccountantState | null | undefined): { state: AccountantState; epsilon: number } {
  const accountant = accountantOf(state).compose(roundEvent(plan));
  const epsilon = accountant.getEpsilon(plan.privacyBudget?.delta ?? DEFAULT_REPORT_DELTA);
  return { state: accountant.toJSON(), epsilon };
}
