import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { QuantileSketch } from './quantile-sketch.ts';

/** The quantile the sketch promises to approximate: the lower one. */
function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))];
}

/** Seeded PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function expectWithinRelative(estimate: number | null, exact: number, alpha: number): void {
  expect(estimate).not.toBeNull();
  // A hair of float slack on top of the guarantee.
  expect(Math.abs((estimate as number) - exact)).toBeLessThanOrEqual(alpha * exact * (1 + 1e-9) + 1e-12);
}

const QS = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

describe('QuantileSketch', () => {
  it('is within 1% of exact quantiles for log-normal latencies', () => {
    const random = rng(7);
    const values: number[] = [];
    const sketch = new QuantileSketch();
    for (let i = 0; i < 20_000; i++) {
      // Box-Muller log-normal around ~3 ms with a heavy tail.
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const v = Math.exp(1 + 1.2 * z);
      values.push(v);
      sketch.add(v);
    }
    values.sort((a, b) => a - b);
    for (const q of QS) expectWithinRelative(sketch.quantile(q), exactQuantile(values, q), 0.01);
    expect(sketch.count).toBe(20_000);
  });

  it('holds its guarantee for any data and accuracy (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1e7, noNaN: true }), { minLength: 1, maxLength: 300 }),
        fc.constantFrom(0.001, 0.01, 0.05),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (values, alpha, q) => {
          const sketch = new QuantileSketch({ relativeAccuracy: alpha });
          for (const v of values) sketch.add(v);
          const sorted = [...values].sort((a, b) => a - b);
          const exact = exactQuantile(sorted, q);
          const estimate = sketch.quantile(q) as number;
          if (exact < 1e-9) return estimate <= 1e-9;
          return Math.abs(estimate - exact) <= alpha * exact * (1 + 1e-9);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('merges exactly: merged sketch equals one fed both streams', () => {
    const random = rng(11);
    const a = new QuantileSketch();
    const b = new QuantileSketch();
    const both = new QuantileSketch();
    const all: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const v = random() * 100;
      const w = 50 + random() * 1000;
      a.add(v);
      b.add(w);
      both.add(v);
      both.add(w);
      all.push(v, w);
    }
    a.merge(b);
    expect(a.toJSON()).toEqual(both.toJSON());
    all.sort((x, y) => x - y);
    for (const q of QS) expectWithinRelative(a.quantile(q), exactQuantile(all, q), 0.01);
  });

  it('refuses to merge sketches of different accuracy', () => {
    expect(() => new QuantileSketch().merge(new QuantileSketch({ relativeAccuracy: 0.02 }))).toThrow(
      /same relativeAccuracy/,
    );
  });

  it('keeps memory bounded and high quantiles accurate when it must collapse', () => {
    const sketch = new QuantileSketch({ maxBuckets: 64 });
    const values: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const v = Math.pow(10, -6 + (12 * i) / 4000); // 1e-6 .. 1e6: far more than 64 buckets
      values.push(v);
      sketch.add(v);
    }
    const json = sketch.toJSON();
    expect(json.counts.filter((n) => n > 0).length).toBeLessThanOrEqual(64);
    values.sort((a, b) => a - b);
    for (const q of [0.99, 0.999, 1]) expectWithinRelative(sketch.quantile(q), exactQuantile(values, q), 0.01);
    // p1 sits in collapsed buckets and is allowed to be far off; it must still be within [min, max].
    const p1 = sketch.quantile(0.01) as number;
    expect(p1).toBeGreaterThanOrEqual(values[0]);
  });

  it('round-trips through JSON and keeps the wire form compact', () => {
    const sketch = new QuantileSketch();
    for (let i = 1; i <= 1000; i++) sketch.add(i / 10);
    sketch.add(0);
    const text = JSON.stringify(sketch.toJSON());
    const back = QuantileSketch.fromJSON(JSON.parse(text));
    for (const q of QS) expect(back.quantile(q)).toBe(sketch.quantile(q));
    expect(back.summary()).toEqual(sketch.summary());
    expect(text.length).toBeLessThan(2000);
  });

  it('rejects inconsistent or hostile wire forms', () => {
    const good = (() => {
      const s = new QuantileSketch();
      s.add(5);
      s.add(7);
      return s.toJSON();
    })();
    expect(() => QuantileSketch.fromJSON({ ...good, count: 3 })).toThrow(/count is 3/);
    expect(() => QuantileSketch.fromJSON({ ...good, counts: [-1] })).toThrow(/not a quantile sketch/);
    expect(() => QuantileSketch.fromJSON({ ...good, min: 9 })).toThrow(/exceeds max/);
    expect(() =>
      QuantileSketch.fromJSON({ ...good, maxBuckets: 16, counts: new Array(17).fill(1), count: 17 }),
    ).toThrow(/more than its maxBuckets/);
    expect(() => QuantileSketch.fromJSON('nope')).toThrow(RangeError);
  });

  it('summarizes an empty sketch with nulls and rejects bad values', () => {
    const sketch = new QuantileSketch();
    expect(sketch.summary()).toEqual({ count: 0, min: null, max: null, mean: null, p50: null, p95: null, p99: null });
    expect(() => sketch.add(-1)).toThrow(/>= 0/);
    expect(() => sketch.add(Number.NaN)).toThrow(RangeError);
    expect(() => sketch.quantile(1.5)).toThrow(RangeError);
    expect(() => new QuantileSketch({ relativeAccuracy: 0 })).toThrow(/relativeAccuracy/);
  });
});
