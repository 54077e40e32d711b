import { beforeAll, describe, expect, it } from 'vitest';
import { selectAggregationBackend } from './backend.ts';
import { coordinateMedian, trimmedMean, type UpdateSource } from './robust.ts';
import type { WeightSpec } from './weight-spec.ts';

const specs: WeightSpec[] = [
  { name: 'a', shape: [13, 3] },
  { name: 'b', shape: [7] },
  { name: 'c', shape: [2, 2, 2] },
];
const sizes = [39, 7, 8];

function makeSource(n: number): { source: UpdateSource; updates: Float32Array[][]; reads: () => number } {
  const updates = Array.from({ length: n }, () =>
    sizes.map((s) => Float32Array.from({ length: s }, () => (Math.random() - 0.5) * 10)),
  );
  let reads = 0;
  return {
    updates,
    reads: () => reads,
    source: {
      count: n,
      read: async (i) => {
        reads++;
        return updates[i];
      },
    },
  };
}

/** Sort-based reference: per coordinate, sort ascending, drop `trim` at each end, average. */
function referenceTrimmed(updates: Float32Array[][], t: number, p: number, trim: number): number {
  const column = updates.map((u) => u[t][p]).sort((a, b) => a - b);
  const kept = column.slice(trim, column.length - trim);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}

function referenceMedian(updates: Float32Array[][], t: number, p: number): number {
  const column = updates.map((u) => u[t][p]).sort((a, b) => a - b);
  const mid = column.length >> 1;
  return column.length % 2 ? column[mid] : (column[mid - 1] + column[mid]) / 2;
}

describe('robust aggregators', () => {
  beforeAll(async () => {
    await selectAggregationBackend();
  });

  for (const n of [1, 2, 7, 10]) {
    it(`coordinate median of ${n} updates matches a sort-based reference, in small chunks`, async () => {
      const { source, updates, reads } = makeSource(n);
      // 5 coordinates per chunk: chunks straddle tensor boundaries.
      const median = await coordinateMedian(specs, source, { maxChunkBytes: 4 * n * 5 });
      expect(reads()).toBe(n * Math.ceil(54 / 5));
      for (let t = 0; t < sizes.length; t++)
        for (let p = 0; p < sizes[t]; p++) expect(median[t][p]).toBeCloseTo(referenceMedian(updates, t, p), 5);
    });
  }

  it('trimmed mean matches the reference and resists outliers; one pass when it fits', async () => {
    const { source, updates, reads } = makeSource(20);
    updates[3][0].fill(1e6); // a byzantine client
    const result = await trimmedMean(specs, source, 0.1);
    expect(reads()).toBe(20);
    for (let t = 0; t < sizes.length; t++)
      for (let p = 0; p < sizes[t]; p++) expect(result[t][p]).toBeCloseTo(referenceTrimmed(updates, t, p, 2), 4);
    expect(Math.max(...result[0])).toBeLessThan(10);
  });

  it('refuses bad options and bad updates', async () => {
    const { source, updates } = makeSource(4);
    await expect(trimmedMean(specs, source, 0.5)).rejects.toMatchObject({ code: 'bad-option' });
    await expect(coordinateMedian(specs, { count: 0, read: source.read })).rejects.toMatchObject({
      code: 'no-updates',
    });
    updates[2][1][3] = Number.POSITIVE_INFINITY;
    await expect(coordinateMedian(specs, source)).rejects.toMatchObject({ code: 'non-finite-update' });
    updates[2][1] = new Float32Array(6);
    await expect(coordinateMedian(specs, source)).rejects.toMatchObject({ code: 'tensor-length-mismatch' });
  });
});
