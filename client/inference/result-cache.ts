/**
 * A bounded LRU of prediction results keyed by a fast 64-bit hash of the
 * input's bytes. Apps often predict the same input again (re-renders, an
 * unchanged canvas); a hit skips the forward pass entirely.
 *
 * Why not SHA-256: it is async in WebCrypto and ~10x slower than a forward
 * pass of a small model; two independent 32-bit multiplicative hashes make a
 * collision among 256 cached entries vanishingly unlikely (~2^-49).
 */

/**
 * 64-bit hash of a Float32Array's bits, as a string key (length included).
 *
 * @example
 * inputKey(new Float32Array([1, 2])) === inputKey(new Float32Array([1, 2])) // true
 */
export function inputKey(values: Float32Array): string {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let h1 = 0x811c9dc5 ^ values.length;
  let h2 = 0x9e3779b9 ^ Math.imul(values.length, 0x85ebca6b);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    h1 = Math.imul(h1 ^ w, 0x01000193); // FNV-1a over words
    h2 = Math.imul(h2 ^ (w >>> 16) ^ Math.imul(w, 0xcc9e2d51), 0x1b873593); // murmur-style mix
    h2 = (h2 << 13) | (h2 >>> 19);
  }
  return `${values.length}:${(h1 >>> 0).toString(36)}:${(h2 >>> 0).toString(36)}`;
}

/**
 * Least-recently-used map with a fixed capacity (0 disables it).
 *
 * @example
 * const cache = new LruCache<Float32Array>(256);
 * cache.set(key, probabilities); cache.get(key);
 */
export class LruCache<V> {
  readonly capacity: number;
  private readonly entries = new Map<string, V>();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new RangeError(`cache capacity must be an integer >= 0, got ${capacity}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    if (this.capacity === 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
