import { describe, expect, it } from 'vitest';
import { loadMnist } from './datasets/mnist.ts';
import { partitionDirichlet, partitionIid, partitionPathological } from './partitions.ts';

const labels = loadMnist({ split: 'train' }).labels;

function labelSet(indices: Int32Array): Set<number> {
  return new Set(Array.from(indices, (i) => labels[i]));
}

function expectDisjoint(parts: Int32Array[], total: number): void {
  const seen = new Uint8Array(total);
  for (const p of parts)
    for (const i of p) {
      expect(seen[i]).toBe(0);
      seen[i] = 1;
    }
}

describe('partitionIid', () => {
  it('gives 100 clients 600 distinct examples each, covering all 60,000', () => {
    const parts = partitionIid(labels.length, 100, 7);
    expect(parts.map((p) => p.length)).toEqual(new Array(100).fill(600));
    expectDisjoint(parts, labels.length);
    // IID: a client of 600 sees every digit.
    expect(parts.every((p) => labelSet(p).size === 10)).toBe(true);
  });

  it('is reproducible by seed and differs across seeds', () => {
    expect(partitionIid(1000, 10, 3)).toEqual(partitionIid(1000, 10, 3));
    expect(partitionIid(1000, 10, 3)[0]).not.toEqual(partitionIid(1000, 10, 4)[0]);
  });
});

describe('partitionPathological (McMahan et al. 2017)', () => {
  const parts = partitionPathological(labels, 100, 1);

  it('cuts 200 shards of 300 sorted examples, 2 per client', () => {
    expect(parts).toHaveLength(100);
    expect(parts.every((p) => p.length === 600)).toBe(true);
    expectDisjoint(parts, labels.length);
    for (const p of parts) {
      for (const half of [p.subarray(0, 300), p.subarray(300)]) {
        // A shard is a run of the label-sorted order: labels never decrease within it.
        for (let i = 1; i < half.length; i++) expect(labels[half[i]]).toBeGreaterThanOrEqual(labels[half[i - 1]]);
      }
    }
  });

  it('leaves each client at most 4 digits and most of them at 2', () => {
    const counts = parts.map((p) => labelSet(p).size);
    expect(Math.max(...counts)).toBeLessThanOrEqual(4); // a shard can straddle a label boundary
    expect(counts.filter((c) => c <= 2).length).toBeGreaterThan(50);
  });
});

describe('partitionDirichlet', () => {
  it('uses every example once and skews labels more for small alpha', () => {
    const skewed = partitionDirichlet(labels, 20, 0.1, 5);
    const flat = partitionDirichlet(labels, 20, 100, 5);
    for (const parts of [skewed, flat]) {
      expect(parts.reduce((n, p) => n + p.length, 0)).toBe(labels.length);
      expectDisjoint(parts, labels.length);
      expect(parts.every((p) => p.length >= 10)).toBe(true);
    }
    const share = (p: Int32Array) => {
      const c = new Array(10).fill(0);
      for (const i of p) c[labels[i]]++;
      return Math.max(...c) / p.length;
    };
    const mean = (parts: Int32Array[]) => parts.reduce((s, p) => s + share(p), 0) / parts.length;
    expect(mean(skewed)).toBeGreaterThan(0.4);
    expect(mean(flat)).toBeLessThan(0.2);
  });

  it('rejects a non-positive alpha with a message naming it', () => {
    expect(() => partitionDirichlet(labels, 10, 0, 1)).toThrow(/alpha must be a positive number/);
  });
});
