/**
 * Uniform integers from the platform CSPRNG (`crypto.getRandomValues`), never
 * Math.random, by rejection (no modulo bias), with words fetched in 64 KiB
 * batches. The exact samplers (discrete Gaussian, randomised rounding) draw
 * every coin from here.
 */

/** 16384 uint32 = 65536 bytes: the per-call limit of getRandomValues. */
const POOL_WORDS = 16384;
const TWO_POW_32 = 4294967296;

/** A pooled source of uniform integers; one per sampling run (not shared between threads). */
export class CryptoUniform {
  private readonly pool = new Uint32Array(POOL_WORDS);
  private next = POOL_WORDS;
  private readonly crypto: Crypto;

  constructor() {
    const c = (globalThis as { crypto?: Crypto }).crypto;
    if (!c || typeof c.getRandomValues !== 'function') {
      throw new Error('crypto.getRandomValues is unavailable: DP noise needs a CSPRNG (Node >= 20 or a browser)');
    }
    this.crypto = c;
  }

  /** One uniform uint32. */
  word(): number {
    if (this.next === POOL_WORDS) {
      this.crypto.getRandomValues(this.pool);
      this.next = 0;
    }
    return this.pool[this.next++];
  }

  /** Uniform in {0, ..., bound - 1} for an integer 1 <= bound <= 2^32. */
  below(bound: number): number {
    if (bound === TWO_POW_32) return this.word();
    const limit = TWO_POW_32 - (TWO_POW_32 % bound);
    for (;;) {
      const w = this.word();
      if (w < limit) return w % bound;
    }
  }

  /** Uniform in {0, ..., bound - 1} for any bigint bound >= 1. */
  belowBig(bound: bigint): bigint {
    if (bound <= BigInt(TWO_POW_32)) return BigInt(this.below(Number(bound)));
    const bits = bound.toString(2).length;
    const words = Math.ceil(bits / 32);
    const topMask = (1n << BigInt(bits - 32 * (words - 1))) - 1n;
    for (;;) {
      let x = BigInt(this.word()) & topMask;
      for (let i = 1; i < words; i++) x = (x << 32n) | BigInt(this.word());
      if (x < bound) return x;
    }
  }

  /** True with probability numerator / denominator (integers, 0 <= numerator <= denominator). */
  bernoulli(numerator: number, denominator: number): boolean {
    if (denominator <= TWO_POW_32) return this.below(denominator) < numerator;
    return this.belowBig(BigInt(denominator)) < BigInt(numerator);
  }

  /** A fair coin. */
  coin(): boolean {
    return (this.word() & 1) === 1;
  }
}
