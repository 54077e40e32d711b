/**
 * A small seeded PRNG (mulberry32) and the samplers the simulator needs, so a
 * run with the same `--seed` picks the same partitions and the same clients.
 * Not for anything secret: use crypto for that.
 */

import { seededRandom, type Random } from '../shared/stats/seeded-random.ts';

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

function standardNormal(random: Random): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Gamma(shape, 1) by Marsaglia-Tsang; shape < 1 via the boost Gamma(a+1) * U^(1/a). */
export function sampleGamma(shape: number, random: Random): number {
  if (!(shape > 0)) throw new RangeError(`gamma shape must be > 0, got ${shape}`);
  if (shape < 1) return sampleGamma(shape + 1, random) * Math.pow(1 - random(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A draw from the symmetric Dirichlet(alpha) over `k` categories. */
export function sampleDirichlet(k: number, alpha: number, random: Random): number[] {
  const g = Array.from({ length: k }, () => sampleGamma(alpha, random));
  const sum = g.reduce((a, b) => a + b, 0);
  // With tiny alpha every gamma can underflow to 0: put all mass on one category.
  if (sum === 0) return g.map((_, i) => (i === Math.floor(random() * k) ? 1 : 0));
  return g.map((v) => v / sum);
}
