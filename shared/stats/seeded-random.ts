/**
 * A small seeded PRNG (mulberry32) for reproducible sampling: simulations,
 * bandit draws in tests. Not for anything secret or for DP noise: use
 * crypto.getRandomValues for those.
 */

/** A function returning uniform floats in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: 32-bit state, fast, good enough for sampling experiments.
 * @example const random = seededRandom(42); random(); // the same first value on every run
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
