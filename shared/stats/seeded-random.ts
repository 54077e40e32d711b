/**
 * A small seeded PRNG (mulberry32) and the samplers built on any uniform
 * source, for reproducible sampling: simulations (partitions, Dirichlet
 * splits), Thompson sampling in the bandit. Not for anything secret or for DP
 * noise: use crypto.getRandomValues for those.
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

/** Standard normal by Box-Muller. */
export function sampleNormal(random: Random): number {
  const u = 1 - random(); // (0, 1]: log(0) is never taken
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/**
 * Gamma(shape, 1) by Marsaglia-Tsang; shapes below 1 use the boost
 * Gamma(a) = Gamma(a + 1) * U^(1/a).
 * @example
 * sampleGamma(2.5, seededRandom(1)) // > 0, mean 2.5 over many draws
 */
export function sampleGamma(shape: number, random: Random): number {
  if (!(shape > 0)) throw new RangeError(`gamma shape must be positive, got ${shape}`);
  if (shape < 1) return sampleGamma(shape + 1, random) * Math.pow(1 - random(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = sampleNormal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}
