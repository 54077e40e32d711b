/**
 * The samplers the simulator needs on top of shared/stats' seeded PRNG, so a
 * run with the same `--seed` picks the same partitions and the same clients.
 * Not for anything secret: use crypto for that.
 */

import { sampleGamma, seededRandom, type Random } from '../shared/stats/seeded-random.ts';

export { seededRandom, type Random };

/** Fisher-Yates shuffle in place; returns the same array. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(items: T, random: Random): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/** `k` distinct integers from [0, n), in random order. */
export function sampleWithoutReplacement(n: number, k: number, random: Random): number[] {
  if (k > n) throw new RangeError(`cannot sample ${k} distinct items from ${n}`);
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, k);
}

/** A draw from the symmetric Dirichlet(alpha) over `k` categories. */
export function sampleDirichlet(k: number, alpha: number, random: Random): number[] {
  const g = Array.from({ length: k }, () => sampleGamma(alpha, random));
  const sum = g.reduce((a, b) => a + b, 0);
  // With tiny alpha every gamma can underflow to 0: put all mass on one category.
  if (sum === 0) return g.map((_, i) => (i === Math.floor(random() * k) ? 1 : 0));
  return g.map((v) => v / sum);
}
