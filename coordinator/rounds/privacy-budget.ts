/**
 * The task's privacy ledger: each round with central noise is one Gaussian
 * step on the sum of clipped updates (sensitivity clipNorm, one update per
 * device per round). A round that would push epsilon past the task's budget
 * does not start.
 *
 * Amplification by subsampling is claimed only when it was earned: a round
 * under `sampling: { kind: 'poisson', rate }` included each checking-in device
 * independently with probability `rate`, so it is charged at q = rate. Every
 * other round filled first-come, which an adversary (or an unlucky fleet)
 * turns into "the same devices every round", so it is charged at q = 1: the
 * plain Gaussian mechanism, valid however many reports it sums. Nothing is
 * ever derived from the plan's `population` (see issue 13, item 3: 3 devices
 * under a plan population of 100000 reported epsilon 0.85 for 15 rounds
 * whose true cost is 40.4).
 *
 * A secure-aggregation round has no central noise: the devices add it, and
 * the round is charged the distributed discrete Gaussian's event
 * (`ddgPrivacyEvent` of the round's DDG plan, q = 1), passed in as `event`.
 */
import { RdpAccountant, type DpEvent } from '../../shared/dp/index.ts';
import type { TaskPlan } from '../../shared/protocol/index.ts';
import type { AccountantState } from '../store/index.ts';

/** delta used to report epsilon when the plan has no budget. */
export const DEFAULT_REPORT_DELTA = 1e-5;

/**
 * The sampling rate a round of this plan may be charged at: the Poisson rate
 * when devices were sampled at random, else 1 (no amplification).
 * @example accountedSamplingRate(TaskPlanSchema.parse({ population: 100000, clientsPerRound: 3 })) // 1
 */
export function accountedSamplingRate(plan: TaskPlan): number {
  return plan.sampling.kind === 'poisson' ? plan.sampling.rate : 1;
}

export function roundEvent(plan: TaskPlan): DpEvent {
  return {
    kind: 'poisson-sampled-gaussian',
    samplingRate: accountedSamplingRate(plan),
    noiseMultiplier: plan.noiseMultiplier,
  };
}

export function accountantOf(state: AccountantState | null | undefined): RdpAccountant {
  return state && state.orders?.length ? RdpAccountant.fromJSON(state) : new RdpAccountant();
}

/** Epsilon after charging one more round, and whether that fits the budget. */
export function nextRoundPrivacy(
  plan: TaskPlan,
  state: AccountantState | null | undefined,
  /** The round's own event when it is not central noise (a secure-aggregation round's DDG); null: no noise. */
  event?: DpEvent | null,
): { epsilonAfter: number | null; allowed: boolean } {
  if (event === null || (event === undefined && plan.noiseMultiplier <= 0))
    return { epsilonAfter: null, allowed: true };
  const accountant = accountantOf(state).compose(event ?? roundEvent(plan));
  const delta = plan.privacyBudget?.delta ?? DEFAULT_REPORT_DELTA;
  const epsilonAfter = accountant.getEpsilon(delta);
  return { epsilonAfter, allowed: !plan.privacyBudget || epsilonAfter <= plan.privacyBudget.epsilon };
}

/** Charges one round; returns the new state and the epsilon spent so far. */
export function chargeRound(
  plan: TaskPlan,
  state: AccountantState | null | undefined,
  /** As in nextRoundPrivacy: the event that ran, when it is not the plan's central noise. */
  event?: DpEvent,
): { state: AccountantState; epsilon: number } {
  const accountant = accountantOf(state).compose(event ?? roundEvent(plan));
  const epsilon = accountant.getEpsilon(plan.privacyBudget?.delta ?? DEFAULT_REPORT_DELTA);
  return { state: accountant.toJSON(), epsilon };
}

/** Epsilon of one round of `event` alone (no composition), at the plan's delta: what one round's stats print. */
export function roundEpsilon(plan: TaskPlan, event: DpEvent): number {
  return new RdpAccountant().compose(event).getEpsilon(plan.privacyBudget?.delta ?? DEFAULT_REPORT_DELTA);
}
