/**
 * How many neighbours each device shares its secrets with (k) and how many of
 * them must answer to recover one (threshold t). SecAgg+ (Bell et al., CCS
 * 2020) replaces the complete graph of SecAgg (Bonawitz et al., CCS 2017)
 * with a random k-regular graph, k of order log n, so a device's work and
 * bytes grow with log n instead of n.
 *
 * t > (k + c) / 2 is what stops a coordinator that lies about who dropped:
 * to learn a device's input it needs t shares of its self-mask seed AND t of
 * its masking key; an honest neighbour reveals only one of the two, so with c
 * colluding neighbours (who reveal both) it would need 2t <= k + c.
 *
 * @example
 * planSecAgg(50)                               // sparse: { neighbours: 32, threshold: 17, colluders: 0 } at 10% dropout
 * planSecAgg(50, { dropoutFraction: 0.3 })     // falls back to the complete graph
 * checkSecAggParameters(50, { neighbours: 12, threshold: 7, colluders: 0 })
 */
import { SecAggError } from './secagg-error.ts';

export interface SecAggParameters {
  /** k: neighbours per device; n - 1 is the complete graph (plain SecAgg). */
  neighbours: number;
  /** t: shares needed to recover a seed or key; t > (k + colluders) / 2. */
  threshold: number;
  /** c: colluding devices (among one device's neighbours) the threshold is sized against. */
  colluders: number;
}

export interface PlanOptions {
  /** c, see SecAggParameters.colluders. Default 0 (t > k/2: only the coordinator is distrusted). */
  colluders?: number;
  /** Fraction of devices that may drop between sharing keys and unmasking. Default 0.1. */
  dropoutFraction?: number;
  /** Target: P(some device cannot be recovered) <= 2^-failureLog2 (union bound). Default 20. */
  failureLog2?: number;
}

/** Shamir shares are indexed by one byte in shamir-secret-sharing: at most 255 per secret. */
export const MAX_NEIGHBOURS = 255;

/** t = floor((k + c) / 2) + 1, the smallest threshold that is safe against c colluders. */
export function safeThreshold(neighbours: number, colluders: number): number {
  return Math.floor((neighbours + colluders) / 2) + 1;
}

/** True when k = n - 1, every device a neighbour of every other. */
export function isCompleteGraph(cohortSize: number, parameters: SecAggParameters): boolean {
  return parameters.neighbours === cohortSize - 1;
}

/** Throws `bad-parameters` unless (k, t, c) are usable and safe for a cohort of `cohortSize`. */
export function checkSecAggParameters(cohortSize: number, parameters: SecAggParameters): void {
  const { neighbours: k, threshold: t, colluders: c } = parameters;
  const fail = (message: string) => {
    throw new SecAggError('bad-parameters', message, { cohortSize, neighbours: k, threshold: t, colluders: c });
  };
  if (!Number.isSafeInteger(cohortSize) || cohortSize < 3) fail(`a cohort needs at least 3 devices, got ${cohortSize}`);
  if (!Number.isSafeInteger(c) || c < 0) fail(`colluders must be an integer >= 0, got ${c}`);
  if (!Number.isSafeInteger(k) || k < 2 || k > cohortSize - 1)
    fail(`neighbours must be an integer in [2, ${cohortSize - 1}], got ${k}`);
  if (k > MAX_NEIGHBOURS)
    fail(`neighbours must be <= ${MAX_NEIGHBOURS} (one-byte Shamir share index); use a sparse graph`);
  if (k !== cohortSize - 1 && k % 2 !== 0) fail(`a sparse graph needs an even number of neighbours, got ${k}`);
  if (!Number.isSafeInteger(t) || t < 2 || t > k) fail(`threshold must be an integer in [2, ${k}], got ${t}`);
  if (2 * t <= k + c)
    fail(
      `threshold ${t} must exceed (neighbours + colluders) / 2 = ${(k + c) / 2}, or a coordinator could learn both shares of a device`,
    );
}

/**
 * P[Binomial(k, 1 - dropout) < t]: the chance that fewer than t of a device's
 * k neighbours are still there when it must be recovered.
 */
export function recoveryFailureProbability(neighbours: number, threshold: number, dropoutFraction: number): number {
  if (dropoutFraction <= 0) return threshold > neighbours ? 1 : 0;
  if (dropoutFraction >= 1) return 1;
  const logLive = Math.log1p(-dropoutFraction);
  const logDrop = Math.log(dropoutFraction);
  let logChoose = 0; // log C(k, i)
  let p = 0;
  for (let i = 0; i < threshold; i++) {
    if (i > 0) logChoose += Math.log((neighbours - i + 1) / i);
    p += Math.exp(logChoose + i * logLive + (neighbours - i) * logDrop);
  }
  return Math.min(1, p);
}

/**
 * The fewest neighbours a sparse graph gets: 2 * ceil(log2 n), so the graph of
 * devices still there stays connected when a few drop (the Harary graph Flock
 * draws is k-connected: removing fewer than k devices cannot split it). A
 * split would let the coordinator learn the sum of each part on its own.
 */
export function minimumNeighbours(cohortSize: number): number {
  return 2 * Math.ceil(Math.log2(cohortSize));
}

/**
 * The sparsest safe graph for `cohortSize` devices: the smallest even k, at
 * least minimumNeighbours(n), whose
 * union-bound failure chance, cohortSize * P[fewer than t live neighbours],
 * is at most 2^-failureLog2; the complete graph when no k < n - 1 does (so
 * small cohorts get plain SecAgg). Throws when even that is unsafe.
 */
export function planSecAgg(cohortSize: number, options: PlanOptions = {}): SecAggParameters {
  const colluders = options.colluders ?? 0;
  const dropoutFraction = options.dropoutFraction ?? 0.1;
  const failureLog2 = options.failureLog2 ?? 20;
  if (!(dropoutFraction >= 0 && dropoutFraction < 1)) {
    throw new SecAggError('bad-parameters', `dropoutFraction must be in [0, 1), got ${dropoutFraction}`);
  }
  const target = 2 ** -failureLog2;
  for (let k = minimumNeighbours(cohortSize); k < Math.min(cohortSize - 1, MAX_NEIGHBOURS + 1); k += 2) {
    const threshold = safeThreshold(k, colluders);
    if (threshold > k || threshold < 2) continue;
    if (cohortSize * recoveryFailureProbability(k, threshold, dropoutFraction) <= target) {
      return { neighbours: k, threshold, colluders };
    }
  }
  const complete = { neighbours: cohortSize - 1, threshold: safeThreshold(cohortSize - 1, colluders), colluders };
  checkSecAggParameters(cohortSize, complete);
  return complete;
}
