/**
 * Bandit mode: Thompson sampling over a binary reward (labelled feedback
 * correct / incorrect per version) decides what share of devices each version
 * gets. Pure functions over plain data; the RNG is injected so a seeded run
 * is reproducible.
 *
 * Assignment is sticky the same way cohorts are: a device's SHA-256 bucket of
 * (banditId, deviceId) is mapped through the cumulative allocation. The
 * allocation only changes at discrete reallocation points, and then only
 * when some share moves by at least `minChange`, and never by more than
 * `maxStep` (total variation) at once. With cumulative intervals the share of
 * devices that switch arm — and re-download a model — is at most the sum of
 * the moves of the interval boundaries, so `maxStep` bounds flips per
 * reallocation (exactly, for two arms).
 */
import { sampleGamma, sampleNormal, seededRandom, type Random } from '../../shared/stats/seeded-random.ts';
import { BUCKETS, bucketOf } from './cohort.ts';

/** Uniform in [0, 1). */
export type Rng = Random;

/** Seeded mulberry32 (shared/stats), for reproducible tests and previews. */
export const seededRng: (seed: number) => Rng = seededRandom;

/** The shared samplers, under the names the bandit has always exported. */
export { sampleGamma, sampleNormal };

/**
 * Beta(alpha, beta) as X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta).
 * @example
 * sampleBeta(30, 10, seededRng(7)) // near 0.75
 */
export function sampleBeta(alpha: number, beta: number, rng: Rng): number {
  const x = sampleGamma(alpha, rng);
  const y = sampleGamma(beta, rng);
  return x / (x + y);
}

/** Binary reward counts of one arm (a model version). */
export type ArmReward = {
  version: number;
  successes: number;
  failures: number;
};

export interface ThompsonOptions {
  /** Posterior draws used to estimate P(arm is best); more is smoother. */
  draws?: number;
  /** Beta prior pseudo-counts, Beta(1, 1) (uniform) by default. */
  priorAlpha?: number;
  priorBeta?: number;
  /** Every arm keeps at least this share, so a loser can still recover. */
  floor?: number;
}

/**
 * Share per arm = estimated probability that the arm has the highest reward
 * rate under its Beta posterior (Thompson sampling in batch form), then
 * floored and renormalised.
 * @example
 * thompsonShares([{ version: 1, successes: 80, failures: 20 }, { version: 2, successes: 60, failures: 40 }], seededRng(1))
 * // about [0.99, 0.01] (with the default floor of 0.01)
 */
export function thompsonShares(arms: readonly ArmReward[], rng: Rng, options: ThompsonOptions = {}): number[] {
  if (arms.length === 0) throw new RangeError('a bandit needs at least one arm');
  const draws = options.draws ?? 2000;
  const a0 = options.priorAlpha ?? 1;
  const b0 = options.priorBeta ?? 1;
  const floor = options.floor ?? 0.01;
  if (!(floor >= 0 && floor * arms.length <= 1))
    throw new RangeError(`floor ${floor} is impossible for ${arms.length} arms; use at most 1/${arms.length}`);
  const wins = new Array<number>(arms.length).fill(0);
  for (let i = 0; i < draws; i++) {
    let best = 0;
    let bestValue = -1;
    arms.forEach((arm, k) => {
      const value = sampleBeta(a0 + arm.successes, b0 + arm.failures, rng);
      if (value > bestValue) {
        bestValue = value;
        best = k;
      }
    });
    wins[best] += 1;
  }
  // Lift arms below the floor, take the difference proportionally from the rest.
  const raw = wins.map((w) => w / draws);
  const low = raw.map((s) => s < floor);
  const lifted = low.filter(Boolean).length * floor;
  const rest = raw.reduce((sum, s, k) => (low[k] ? sum : sum + s), 0);
  return raw.map((s, k) =>
    low[k] ? floor : rest > 0 ? (s / rest) * (1 - lifted) : (1 - lifted) / (arms.length - low.filter(Boolean).length),
  );
}

export interface ReallocationGuard {
  /** No change at all unless some share would move by at least this much. */
  minChange: number;
  /** Largest total-variation move per reallocation (bounds devices flipped). */
  maxStep: number;
}

export const DEFAULT_REALLOCATION_GUARD: ReallocationGuard = { minChange: 0.05, maxStep: 0.2 };

/** Half the L1 distance: the share of traffic that has to move between two allocations. */
export function totalVariation(a: readonly number[], b: readonly number[]): number {
  return a.reduce((sum, x, k) => sum + Math.abs(x - b[k]), 0) / 2;
}

/**
 * The allocation to adopt: the current one when the proposal is a small
 * change, else a step toward the proposal no larger than `maxStep`.
 * @example
 * guardedShares([0.5, 0.5], [0.52, 0.48], DEFAULT_REALLOCATION_GUARD) // [0.5, 0.5]: below minChange
 * guardedShares([0.5, 0.5], [0.9, 0.1], DEFAULT_REALLOCATION_GUARD)   // [0.7, 0.3]: capped at maxStep
 */
export function guardedShares(
  current: readonly number[],
  proposed: readonly number[],
  guard: ReallocationGuard = DEFAULT_REALLOCATION_GUARD,
): number[] {
  if (current.length !== proposed.length)
    throw new RangeError(`allocations differ in arms: ${current.length} vs ${proposed.length}`);
  const largestMove = Math.max(...current.map((x, k) => Math.abs(proposed[k] - x)));
  if (largestMove < guard.minChange) return [...current];
  const tv = totalVariation(current, proposed);
  const t = tv > guard.maxStep ? guard.maxStep / tv : 1;
  return current.map((x, k) => x + t * (proposed[k] - x));
}

/** Cumulative bucket boundaries of an allocation: arm k owns buckets [edges[k], edges[k + 1]). */
function edgesOf(shares: readonly number[]): number[] {
  const edges = [0];
  let cumulative = 0;
  for (const s of shares) {
    cumulative += s;
    edges.push(Math.round(Math.min(1, cumulative) * BUCKETS));
  }
  edges[edges.length - 1] = BUCKETS;
  return edges;
}

/**
 * Index of the arm a device runs under `shares`: sticky for as long as the
 * shares do not change, independent between bandits.
 * @example
 * armOf('bd_1', 'dev_a', [0.7, 0.3]) // 0 for about 70% of device ids
 */
export function armOf(banditId: string, deviceId: string, shares: readonly number[]): number {
  const bucket = bucketOf(banditId, deviceId);
  const edges = edgesOf(shares);
  for (let k = 0; k < shares.length; k++) if (bucket < edges[k + 1]) return k;
  return shares.length - 1;
}

/**
 * Upper bound on the share of devices that change arm between two
 * allocations: the summed movement of the inner interval boundaries.
 * For two arms this is exactly |Δshare|.
 */
export function flipBound(from: readonly number[], to: readonly number[]): number {
  const a = edgesOf(from);
  const b = edgesOf(to);
  let moved = 0;
  for (let k = 1; k < a.length - 1; k++) moved += Math.abs(a[k] - b[k]);
  return moved / BUCKETS;
}

/** What a bandit keeps between reallocations. */
export type BanditState = {
  id: string;
  /** Model versions, in a fixed order (the order of the bucket intervals). */
  versions: number[];
  shares: number[];
  /** Reallocation points so far; 0 for the initial even split. */
  reallocations: number;
  reallocatedAt: string;
};

/**
 * @example
 * const s = newBandit('bd_1', [3, 4], new Date().toISOString()); // shares [0.5, 0.5]
 */
export function newBandit(id: string, versions: readonly number[], at: string): BanditState {
  if (versions.length < 2 || new Set(versions).size !== versions.length)
    throw new RangeError(`a bandit needs at least two distinct versions, got ${JSON.stringify(versions)}`);
  return {
    id,
    versions: [...versions],
    shares: versions.map(() => 1 / versions.length),
    reallocations: 0,
    reallocatedAt: at,
  };
}

/**
 * One reallocation point: Thompson shares from the rewards so far, passed
 * through the guard. Rewards of versions not in the bandit are ignored;
 * a version without rewards counts as 0 / 0 (its prior).
 * @example
 * state = reallocate(state, rewardsFromFeedback(events), rng, new Date().toISOString());
 */
export function reallocate(
  state: BanditState,
  rewards: readonly ArmReward[],
  rng: Rng,
  at: string,
  options: ThompsonOptions & { guard?: ReallocationGuard } = {},
): BanditState {
  const arms = state.versions.map(
    (version) => rewards.find((r) => r.version === version) ?? { version, successes: 0, failures: 0 },
  );
  const shares = guardedShares(state.shares, thompsonShares(arms, rng, options), options.guard);
  const changed = shares.some((s, k) => s !== state.shares[k]);
  return changed ? { ...state, shares, reallocations: state.reallocations + 1, reallocatedAt: at } : state;
}

/** The version a device runs now. */
export function versionOf(state: BanditState, deviceId: string): number {
  return state.versions[armOf(state.id, deviceId, state.shares)];
}

/** A stored 'feedback' telemetry row, as far as rewards need it. */
export interface FeedbackRow {
  /** With it, each device's outcomes per version are capped (see `rewardsFromFeedback`). */
  deviceId?: string;
  version: number | null;
  kind: string;
  payload: { correct?: unknown; incorrect?: unknown };
}

/** Labelled outcomes one device may contribute per version: counts are device claims, not facts. */
export const MAX_FEEDBACK_PER_DEVICE = 200;

const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/**
 * Per-(version, device) sums of labelled feedback, folded one row at a time
 * so that any number of rows can be read page by page in memory
 * O(devices x versions). `rewards()` applies the per-device cap; `outcomes()`
 * is what devices sent, before it.
 * @example
 * const tally = new FeedbackTally();
 * for (const row of page) tally.add(row);
 * tally.rewards() // [{ version: 3, successes: 41, failures: 3 }]
 */
export class FeedbackTally {
  private readonly perDevice = new Map<string, { version: number; s: number; f: number }>();
  private anonymous = 0;

  add(row: FeedbackRow): void {
    if (row.kind !== 'feedback' || row.version === null) return;
    const key = `${row.version}\0${row.deviceId ?? `anonymous-${this.anonymous++}`}`;
    let d = this.perDevice.get(key);
    if (!d) this.perDevice.set(key, (d = { version: row.version, s: 0, f: 0 }));
    d.s += count(row.payload.correct);
    d.f += count(row.payload.incorrect);
  }

  /** Rewards per version, each device's outcomes for a version scaled down to at most `maxPerDevice` (its success rate kept). */
  rewards(maxPerDevice = MAX_FEEDBACK_PER_DEVICE): ArmReward[] {
    const byVersion = new Map<number, ArmReward>();
    for (const d of this.perDevice.values()) {
      const n = d.s + d.f;
      const scale = n > maxPerDevice ? maxPerDevice / n : 1;
      const r = byVersion.get(d.version) ?? { version: d.version, successes: 0, failures: 0 };
      r.successes += d.s * scale;
      r.failures += d.f * scale;
      byVersion.set(d.version, r);
    }
    return [...byVersion.values()];
  }

  /** Outcomes (correct + incorrect) and distinct devices per version, as sent: no cap. */
  outcomes(): Array<{ version: number; outcomes: number; devices: number }> {
    const byVersion = new Map<number, { version: number; outcomes: number; devices: number }>();
    for (const d of this.perDevice.values()) {
      const v = byVersion.get(d.version) ?? { version: d.version, outcomes: 0, devices: 0 };
      v.outcomes += d.s + d.f;
      v.devices += 1;
      byVersion.set(d.version, v);
    }
    return [...byVersion.values()];
  }
}

/**
 * Sums labelled-feedback telemetry into per-version rewards. A device's
 * outcomes for a version are scaled down to at most `maxPerDevice` (its
 * success rate kept), so one device cannot move an allocation by itself.
 * @example
 * rewardsFromFeedback(await readTelemetry(store, 'digits', 3, since, 'feedback'))
 */
export function rewardsFromFeedback(rows: readonly FeedbackRow[], maxPerDevice = MAX_FEEDBACK_PER_DEVICE): ArmReward[] {
  const tally = new FeedbackTally();
  for (const row of rows) tally.add(row);
  return tally.rewards(maxPerDevice);
}
