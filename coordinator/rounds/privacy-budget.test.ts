/** The task privacy ledger: epsilon per round against the shared accountant, and budget refusal. */
import { describe, expect, it } from 'vitest';
import { computeEpsilon } from '../../shared/dp/index.ts';
import { TaskPlanSchema, type TaskPlanInput } from '../../shared/protocol/index.ts';
import type { AccountantState } from '../store/index.ts';
import {
  DEFAULT_REPORT_DELTA,
  accountedSamplingRate,
  accountantOf,
  chargeRound,
  nextRoundPrivacy,
  roundEvent,
} from './privacy-budget.ts';

/** Poisson-sampled at 5%: the rate these ledger tests charge at (first-come rounds are charged at q = 1). */
const planOf = (input: Partial<TaskPlanInput>) => ({
  ...TaskPlanSchema.parse({ population: 1000, clientsPerRound: 50, ...input }),
  sampling: { kind: 'poisson' as const, rate: 0.05 },
});
/** Stored state goes through JSON (Infinity becomes null); mimic that. */
const stored = (s: AccountantState): AccountantState => JSON.parse(JSON.stringify(s)) as AccountantState;

describe('privacy budget', () => {
  it('charges first-come rounds at q = 1 whatever the plan population says', () => {
    const firstCome = TaskPlanSchema.parse({
      population: 100_000,
      clientsPerRound: 3,
      noiseMultiplier: 0.7,
      privacyBudget: { epsilon: 1, delta: 1e-5 },
    });
    expect(accountedSamplingRate(firstCome)).toBe(1);
    expect(roundEvent(firstCome)).toEqual({ kind: 'poisson-sampled-gaussian', samplingRate: 1, noiseMultiplier: 0.7 });
    // The attack of issue 13 item 3: one round alone costs ~7.16, so a budget of 1 never opens it.
    const first = nextRoundPrivacy(firstCome, null);
    expect(first.epsilonAfter).toBeCloseTo(
      computeEpsilon({ samplingRate: 1, noiseMultiplier: 0.7, steps: 1, delta: 1e-5 }).epsilon,
      10,
    );
    expect(first.epsilonAfter).toBeGreaterThan(7.1);
    expect(first.allowed).toBe(false);
    let state: AccountantState | null = null;
    for (let t = 0; t < 15; t++) state = stored(chargeRound(firstCome, state).state);
    expect(accountantOf(state).getEpsilon(1e-5)).toBeCloseTo(
      computeEpsilon({ samplingRate: 1, noiseMultiplier: 0.7, steps: 15, delta: 1e-5 }).epsilon,
      8,
    );
    expect(accountantOf(state).getEpsilon(1e-5)).toBeGreaterThan(40);
  });

  it('charges Poisson-sampled rounds at their recorded rate', () => {
    expect(roundEvent(planOf({ noiseMultiplier: 1.1 }))).toEqual({
      kind: 'poisson-sampled-gaussian',
      samplingRate: 0.05,
      noiseMultiplier: 1.1,
    });
  });

  it('without central noise there is nothing to account and every round is allowed', () => {
    expect(nextRoundPrivacy(planOf({}), null)).toEqual({ epsilonAfter: null, allowed: true });
  });

  it('epsilon after T charged rounds matches computeEpsilon for T steps and grows with T', () => {
    const plan = planOf({ noiseMultiplier: 1.0, privacyBudget: { epsilon: 100, delta: 1e-6 } });
    let state: AccountantState | null = null;
    let previous = 0;
    for (let t = 1; t <= 5; t++) {
      const next = nextRoundPrivacy(plan, state);
      const charged = chargeRound(plan, state);
      const expected = computeEpsilon({ samplingRate: 0.05, noiseMultiplier: 1.0, steps: t, delta: 1e-6 }).epsilon;
      expect(charged.epsilon).toBeCloseTo(expected, 10);
      expect(next.epsilonAfter).toBeCloseTo(expected, 10);
      expect(charged.epsilon).toBeGreaterThan(previous);
      previous = charged.epsilon;
      state = stored(charged.state);
    }
  });

  it('reports at the default delta when the plan has no budget', () => {
    const plan = planOf({ noiseMultiplier: 0.8 });
    const expected = computeEpsilon({
      samplingRate: 0.05,
      noiseMultiplier: 0.8,
      steps: 1,
      delta: DEFAULT_REPORT_DELTA,
    }).epsilon;
    expect(chargeRound(plan, null).epsilon).toBeCloseTo(expected, 10);
    expect(nextRoundPrivacy(plan, null).allowed).toBe(true);
  });

  it('refuses the round that would cross the budget, and only that one', () => {
    const eps = (steps: number) =>
      computeEpsilon({ samplingRate: 0.05, noiseMultiplier: 1.0, steps, delta: 1e-5 }).epsilon;
    // A budget strictly between epsilon(2) and epsilon(3): two rounds fit, the third does not.
    const plan = planOf({ noiseMultiplier: 1.0, privacyBudget: { epsilon: (eps(2) + eps(3)) / 2, delta: 1e-5 } });
    let state: AccountantState | null = null;
    for (let t = 1; t <= 2; t++) {
      expect(nextRoundPrivacy(plan, state).allowed).toBe(true);
      state = stored(chargeRound(plan, state).state);
    }
    const third = nextRoundPrivacy(plan, state);
    expect(third.allowed).toBe(false);
    expect(third.epsilonAfter).toBeCloseTo(eps(3), 10);
  });

  it('with a tiny budget not even the first round may start', () => {
    const plan = planOf({ noiseMultiplier: 1.0, privacyBudget: { epsilon: 0.01, delta: 1e-5 } });
    const first = nextRoundPrivacy(plan, null);
    expect(first.allowed).toBe(false);
    expect(first.epsilonAfter).toBeGreaterThan(0.01);
  });

  it('restores a stored ledger, and a missing or empty one is a fresh accountant', () => {
    const plan = planOf({ noiseMultiplier: 1.2 });
    const once = stored(chargeRound(plan, null).state);
    expect(accountantOf(once).getEpsilon(1e-5)).toBeCloseTo(chargeRound(plan, null).epsilon, 10);
    expect(accountantOf(null).getEpsilon(1e-5)).toBe(0);
    expect(accountantOf({ orders: [], rdp: [] }).getEpsilon(1e-5)).toBe(0);
  });
});
