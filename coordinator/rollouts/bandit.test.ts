import { describe, expect, it } from 'vitest';
import {
  armOf,
  DEFAULT_REALLOCATION_GUARD,
  flipBound,
  guardedShares,
  newBandit,
  reallocate,
  rewardsFromFeedback,
  sampleBeta,
  sampleGamma,
  seededRng,
  thompsonShares,
  totalVariation,
  versionOf,
  type ArmReward,
  type BanditState,
} from './bandit.ts';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const devices = Array.from({ length: 4000 }, (_, i) => `dev_${i}`);

describe('Gamma and Beta sampling', () => {
  it('matches the Gamma mean and variance (shape below and above 1)', () => {
    const rng = seededRng(1);
    for (const shape of [0.4, 1, 3.5]) {
      const xs = Array.from({ length: 20_000 }, () => sampleGamma(shape, rng));
      const m = mean(xs);
      const v = mean(xs.map((x) => (x - m) ** 2));
      expect(m).toBeCloseTo(shape, 1);
      expect(Math.abs(v - shape) / shape).toBeLessThan(0.08);
    }
  });

  it('matches the Beta mean', () => {
    const rng = seededRng(2);
    const xs = Array.from({ length: 20_000 }, () => sampleBeta(3, 9, rng));
    expect(mean(xs)).toBeCloseTo(3 / 12, 2);
    expect(xs.every((x) => x > 0 && x < 1)).toBe(true);
  });

  it('is reproducible from the seed', () => {
    const a = seededRng(9);
    const b = seededRng(9);
    expect(Array.from({ length: 5 }, () => sampleBeta(2, 5, a))).toEqual(
      Array.from({ length: 5 }, () => sampleBeta(2, 5, b)),
    );
  });
});

describe('thompsonShares', () => {
  it('gives the clearly better arm nearly all traffic and respects the floor', () => {
    const shares = thompsonShares(
      [
        { version: 1, successes: 60, failures: 40 },
        { version: 2, successes: 85, failures: 15 },
      ],
      seededRng(3),
      { floor: 0.02 },
    );
    expect(shares[1]).toBeGreaterThan(0.95);
    expect(shares[0]).toBeGreaterThanOrEqual(0.02);
    expect(shares[0] + shares[1]).toBeCloseTo(1, 10);
  });

  it('splits evenly between arms with no evidence', () => {
    const shares = thompsonShares(
      [
        { version: 1, successes: 0, failures: 0 },
        { version: 2, successes: 0, failures: 0 },
      ],
      seededRng(4),
      { draws: 4000 },
    );
    expect(Math.abs(shares[0] - 0.5)).toBeLessThan(0.05);
  });
});

describe('guardedShares', () => {
  it('keeps the allocation on a small change and caps a large one at maxStep', () => {
    expect(guardedShares([0.5, 0.5], [0.53, 0.47])).toEqual([0.5, 0.5]);
    const moved = guardedShares([0.5, 0.5], [0.95, 0.05]);
    expect(totalVariation([0.5, 0.5], moved)).toBeCloseTo(DEFAULT_REALLOCATION_GUARD.maxStep, 10);
    expect(moved[0]).toBeCloseTo(0.7, 10);
  });
});

/** Simulates a fleet: each reallocation period every device reports `perDevice` labelled outcomes on its arm. */
function simulate(trueRates: Record<number, number>, periods: number, seed: number) {
  const rng = seededRng(seed);
  let state: BanditState = newBandit('bd_sim', Object.keys(trueRates).map(Number), '2026-01-01T00:00:00.000Z');
  const totals = new Map<number, ArmReward>();
  const history: { state: BanditState; assignment: number[] }[] = [];
  for (let p = 0; p < periods; p++) {
    const assignment = devices.map((d) => versionOf(state, d));
    history.push({ state, assignment });
    for (let i = 0; i < 300; i++) {
      // a sample of devices report each period
      const version = assignment[Math.floor(rng() * devices.length)];
      const r = totals.get(version) ?? { version, successes: 0, failures: 0 };
      if (rng() < trueRates[version]) r.successes += 1;
      else r.failures += 1;
      totals.set(version, r);
    }
    state = reallocate(state, [...totals.values()], rng, `2026-01-01T${String(p + 1).padStart(2, '0')}:00:00.000Z`, {
      draws: 500,
    });
  }
  return { state, history };
}

describe('bandit simulation', () => {
  it('converges traffic to the better version', () => {
    const { state } = simulate({ 1: 0.7, 2: 0.85 }, 12, 11);
    expect(state.versions).toEqual([1, 2]);
    expect(state.shares[1]).toBeGreaterThan(0.9);
  });

  it('converges to the best of three', () => {
    const { state } = simulate({ 1: 0.6, 2: 0.9, 3: 0.7 }, 15, 12);
    expect(state.shares[1]).toBeGreaterThan(Math.max(state.shares[0], state.shares[2]) * 5);
  });

  it('keeps every device on its version between reallocations and bounds flips at each one', () => {
    const { history } = simulate({ 1: 0.7, 2: 0.85 }, 8, 13);
    for (const { state, assignment } of history) {
      expect(devices.map((d) => versionOf(state, d))).toEqual(assignment); // sticky: same answer on every call
    }
    let reallocations = 0;
    for (let p = 1; p < history.length; p++) {
      const before = history[p - 1];
      const after = history[p];
      const flipped = after.assignment.filter((v, i) => v !== before.assignment[i]).length / devices.length;
      if (after.state.reallocations === before.state.reallocations) {
        expect(flipped).toBe(0);
        continue;
      }
      reallocations += 1;
      expect(flipBound(before.state.shares, after.state.shares)).toBeLessThanOrEqual(
        DEFAULT_REALLOCATION_GUARD.maxStep + 1e-9,
      );
      // Hash buckets are a sample, so allow a little sampling slack over the bound.
      expect(flipped).toBeLessThanOrEqual(DEFAULT_REALLOCATION_GUARD.maxStep + 0.03);
      // Flips happen only in the direction of the share change: a device moves to the gaining arm.
      const gaining = after.state.shares[1] > before.state.shares[1] ? 2 : 1;
      expect(after.assignment.filter((v, i) => v !== before.assignment[i]).every((v) => v === gaining)).toBe(true);
    }
    expect(reallocations).toBeGreaterThan(0);
  });

  it('assigns by hash bucket through the shares, differently per bandit', () => {
    const share = devices.filter((d) => armOf('bd_a', d, [0.3, 0.7]) === 0).length / devices.length;
    expect(Math.abs(share - 0.3)).toBeLessThan(0.03);
    const other = devices.filter((d) => armOf('bd_b', d, [0.3, 0.7]) === 0);
    const same = other.filter((d) => armOf('bd_a', d, [0.3, 0.7]) === 0).length / other.length;
    expect(same).toBeLessThan(0.45); // independent: about 30% overlap, not 100%
  });
});

describe('rewardsFromFeedback', () => {
  it('sums feedback per version and ignores other rows', () => {
    expect(
      rewardsFromFeedback([
        { version: 1, kind: 'feedback', payload: { correct: 3, incorrect: 1 } },
        { version: 1, kind: 'feedback', payload: { correct: 2, incorrect: 0 } },
        { version: 2, kind: 'latency', payload: {} },
        { version: null, kind: 'feedback', payload: { correct: 9, incorrect: 9 } },
      ]),
    ).toEqual([{ version: 1, successes: 5, failures: 1 }]);
  });

  it('caps each device at a bounded number of outcomes per version, keeping its rate', () => {
    const rewards = rewardsFromFeedback(
      [
        { deviceId: 'liar', version: 2, kind: 'feedback', payload: { correct: 1_000_000, incorrect: 0 } },
        { deviceId: 'honest', version: 2, kind: 'feedback', payload: { correct: 50, incorrect: 50 } },
      ],
      100,
    );
    expect(rewards).toEqual([{ version: 2, successes: 150, failures: 50 }]);
  });
});
