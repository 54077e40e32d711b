import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createAccumulator } from './accumulator.ts';
import { selectAggregationBackend } from './backend.ts';
import { AggregationError } from './errors.ts';
import { finalizeRound } from './finalize-round.ts';
import type { WeightSpec } from './weight-spec.ts';

const specs: WeightSpec[] = [
  { name: 'dense/kernel', shape: [7, 5] },
  { name: 'dense/bias', shape: [5] },
];

function randomUpdate(scale = 1): Float32Array[] {
  return [35, 5].map((n) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale));
}

for (const backendName of ['wasm', 'cpu'] as const) {
  describe(`accumulator on ${backendName}`, () => {
    beforeAll(async () => {
      await selectAggregationBackend(backendName);
    });

    it('FedAvg mean equals the example-weighted mean computed with plain loops', () => {
      const updates = Array.from({ length: 9 }, () => randomUpdate());
      const weights = updates.map(() => 1 + Math.floor(Math.random() * 500));
      const acc = createAccumulator(specs);
      updates.forEach((u, i) => acc.add(u, weights[i]));
      const mean = acc.mean();
      const total = weights.reduce((a, b) => a + b, 0);
      expect(acc.count).toBe(9);
      expect(acc.totalWeight).toBe(total);
      for (let t = 0; t < specs.length; t++) {
        for (let p = 0; p < mean[t].length; p++) {
          let s = 0;
          for (let c = 0; c < updates.length; c++) s += weights[c] * updates[c][t][p];
          expect(mean[t][p]).toBeCloseTo(s / total, 5);
        }
      }
      acc.dispose();
    });

    it("retract lowers one update's weight as if it had been added with the lower weight, norm bounding included", () => {
      const updates = [randomUpdate(0.01), randomUpdate(3), randomUpdate(0.02)];
      const high = createAccumulator(specs, { normBound: 1 });
      const low = createAccumulator(specs, { normBound: 1 });
      [10, 1000, 20].forEach((w, i) => high.add(updates[i], w));
      [10, 40, 20].forEach((w, i) => low.add(updates[i], w));
      high.retract(updates[1], 960);
      expect(high.count).toBe(3);
      expect(high.totalWeight).toBe(70);
      expect(high.boundedCount).toBe(1);
      const [a, b] = [high.mean(), low.mean()];
      for (let t = 0; t < specs.length; t++)
        for (let p = 0; p < a[t].length; p++) expect(a[t][p]).toBeCloseTo(b[t][p], 5);
      expect(() => high.retract(updates[0], 70)).toThrow(AggregationError);
      expect(() => high.retract(updates[0], -1)).toThrow(AggregationError);
      high.dispose();
      low.dispose();
    });

    it('norm bounding scales each update to at most normBound before averaging', () => {
      const updates = [randomUpdate(0.01), randomUpdate(3), randomUpdate(5)];
      const bound = 1;
      const acc = createAccumulator(specs, { normBound: bound });
      for (const u of updates) acc.add(u, 1);
      const sum = acc.sum();
      const scaled = updates.map((u) => {
        const norm = Math.sqrt(u.flatMap((t) => Array.from(t)).reduce((a, v) => a + v * v, 0));
        const f = Math.min(1, bound / norm);
        return u.map((t) => Array.from(t, (v) => v * f));
      });
      for (let t = 0; t < specs.length; t++) {
        for (let p = 0; p < sum[t].length; p++)
          expect(sum[t][p]).toBeCloseTo(
            scaled.reduce((a, u) => a + u[t][p], 0),
            5,
          );
      }
      expect(acc.boundedCount).toBe(2);
      acc.dispose();
    });

    it('refuses bad updates with typed errors and keeps the sum intact', () => {
      const acc = createAccumulator(specs);
      const good = randomUpdate();
      acc.add(good, 2);
      const codeOf = (fn: () => void): string => {
        try {
          fn();
        } catch (e) {
          expect(e).toBeInstanceOf(AggregationError);
          return (e as AggregationError).code;
        }
        return 'no error';
      };
      expect(codeOf(() => acc.add([good[0]], 1))).toBe('tensor-count-mismatch');
      expect(codeOf(() => acc.add([good[0], new Float32Array(4)], 1))).toBe('tensor-length-mismatch');
      expect(codeOf(() => acc.add(good, Number.NaN))).toBe('bad-weight');
      expect(codeOf(() => acc.add(good, -1))).toBe('bad-weight');
      expect(codeOf(() => acc.add(good, Infinity))).toBe('bad-weight');
      const poisoned = randomUpdate();
      poisoned[1][2] = Number.NaN;
      expect(codeOf(() => acc.add(poisoned, 1))).toBe('non-finite-update');
      expect(acc.count).toBe(1);
      expect(acc.mean()[0][3]).toBeCloseTo(good[0][3], 6);
      expect(codeOf(() => createAccumulator(specs).mean())).toBe('no-updates');
      expect(codeOf(() => createAccumulator([{ name: 'x', shape: [2, -1] }]))).toBe('bad-spec');
      acc.dispose();
      expect(codeOf(() => acc.add(good, 1))).toBe('disposed');
    });

    it('merging the snapshots of two halves equals one accumulator of all updates', () => {
      const updates = Array.from({ length: 10 }, (_, i) => randomUpdate(i % 3 === 0 ? 4 : 0.2));
      const weights = updates.map(() => 1 + Math.floor(Math.random() * 50));
      const bound = 1.5;
      const all = createAccumulator(specs, { normBound: bound });
      const left = createAccumulator(specs, { normBound: bound });
      const right = createAccumulator(specs, { normBound: bound });
      updates.forEach((u, i) => {
        all.add(u, weights[i]);
        (i % 2 ? left : right).add(u, weights[i]);
      });
      const merged = createAccumulator(specs, { normBound: bound });
      merged.merge(left.snapshot());
      merged.merge(right.snapshot());
      merged.merge(createAccumulator(specs, { normBound: bound }).snapshot()); // an empty partial changes nothing
      expect(merged.count).toBe(all.count);
      expect(merged.totalWeight).toBe(all.totalWeight);
      expect(merged.boundedCount).toBe(all.boundedCount);
      expect(merged.boundedCount).toBeGreaterThan(0);
      expect(merged.maxUpdateNorm).toBe(all.maxUpdateNorm);
      const [a, m] = [all.mean(), merged.mean()];
      let worst = 0;
      for (let t = 0; t < specs.length; t++)
        for (let p = 0; p < a[t].length; p++) worst = Math.max(worst, Math.abs(a[t][p] - m[t][p]));
      // float32 sums in another order: equal to a few ulps, not bit for bit.
      expect(worst).toBeLessThan(1e-6);
      for (const acc of [all, left, right, merged]) acc.dispose();
    });

    it('refuses a snapshot with another bound, another layout or a NaN, and leaves the sum intact', () => {
      const acc = createAccumulator(specs, { normBound: 1 });
      const good = randomUpdate(0.1);
      acc.add(good, 1);
      const other = createAccumulator(specs, { normBound: 1 });
      other.add(randomUpdate(0.1), 1);
      const snap = other.snapshot();
      const codeOf = (fn: () => void): string => {
        try {
          fn();
        } catch (e) {
          expect(e).toBeInstanceOf(AggregationError);
          return (e as AggregationError).code;
        }
        return 'no error';
      };
      expect(codeOf(() => acc.merge({ ...snap, normBound: 2 }))).toBe('bad-option');
      expect(codeOf(() => acc.merge({ ...snap, normBound: null }))).toBe('bad-option');
      expect(codeOf(() => acc.merge({ ...snap, sum: [snap.sum[0]] }))).toBe('tensor-count-mismatch');
      expect(codeOf(() => acc.merge({ ...snap, sum: [snap.sum[0], new Float32Array(3)] }))).toBe(
        'tensor-length-mismatch',
      );
      expect(codeOf(() => acc.merge({ ...snap, totalWeight: -1 }))).toBe('bad-weight');
      const poisoned = snap.sum.map((t) => Float32Array.from(t));
      poisoned[0][1] = Number.NaN;
      expect(codeOf(() => acc.merge({ ...snap, sum: poisoned }))).toBe('non-finite-update');
      expect(acc.count).toBe(1);
      expect(acc.snapshot().sum[1][2]).toBeCloseTo(good[1][2], 6);
      acc.dispose();
      other.dispose();
    });

    it('leaks no tensor across 1,000 accumulate + finalize rounds', async () => {
      let globals = randomUpdate();
      const update = randomUpdate(0.1);
      // Warm up once so lazily created engine-level tensors are not counted as leaks.
      const warm = createAccumulator(specs);
      warm.add(update, 1);
      await finalizeRound({
        strategy: { name: 'fedadam' },
        aggregate: { kind: 'mean', accumulator: warm },
        globals,
        optimizerState: null,
      });
      warm.dispose();
      const before = tf.memory().numTensors;
      let state = null;
      for (let round = 0; round < 1000; round++) {
        const acc = createAccumulator(specs);
        acc.add(update, 3);
        acc.add(update, 1);
        const result = await finalizeRound({
          strategy: { name: 'fedadam' },
          aggregate: { kind: 'mean', accumulator: acc },
          globals,
          optimizerState: state,
        });
        acc.dispose();
        globals = result.weights;
        state = result.optimizerState;
      }
      expect(tf.memory().numTensors).toBe(before);
      expect(state?.step).toBe(1000);
    });
  });
}

describe('accumulator fused fold path (staged updates, both kernels)', () => {
  beforeAll(async () => {
    await selectAggregationBackend('wasm');
  });
  // Odd sizes (not multiples of the kernel's 16-float step) and more updates than staging slots.
  const oddSpecs: WeightSpec[] = [
    { name: 'w', shape: [33, 7] },
    { name: 'b', shape: [3] },
  ];
  let seed = 5;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.2;
  const update = (scale: number) => [231, 3].map((n) => Float32Array.from({ length: n }, () => rand() * scale));
  const codeOf = (fn: () => void): string => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(AggregationError);
      return (e as AggregationError).code;
    }
    return 'no error';
  };

  for (const kernel of ['auto', 'js'] as const) {
    it(`${kernel}: equals the float64 reference sum to 1e-6, norm bound applied per update`, () => {
      const updates = Array.from({ length: 11 }, (_, i) => update(i % 4 === 0 ? 30 : 0.5));
      const weights = updates.map((_, i) => 1 + (i % 5));
      const bound = 2;
      const acc = createAccumulator(oddSpecs, { normBound: bound, kernel });
      updates.forEach((u, i) => acc.add(u, weights[i]));
      const sum = acc.sum();
      let bounded = 0;
      const reference = [new Float64Array(231), new Float64Array(3)];
      updates.forEach((u, i) => {
        const norm = Math.sqrt(u.reduce((a, t) => a + t.reduce((b, v) => b + v * v, 0), 0));
        if (norm > bound) bounded++;
        const f = weights[i] * Math.min(1, bound / norm);
        u.forEach((t, k) => t.forEach((v, j) => (reference[k][j] += f * v)));
      });
      let worst = 0;
      reference.forEach((t, k) => t.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - sum[k][j])))));
      expect(worst).toBeLessThan(1e-6);
      expect(acc.boundedCount).toBe(bounded);
      expect(bounded).toBe(3);
      // Each bounded summand has norm exactly `bound`: the sum of 11 weighted updates stays within sum(w) * bound.
      const sumNorm = Math.sqrt(sum.reduce((a, t) => a + t.reduce((b, v) => b + v * v, 0), 0));
      expect(sumNorm).toBeLessThanOrEqual(weights.reduce((a, b) => a + b, 0) * bound);
      acc.dispose();
    });

    it(`${kernel}: refuses NaN and infinities between staged updates and keeps the sum of the others`, () => {
      const good = Array.from({ length: 6 }, () => update(1));
      const acc = createAccumulator(oddSpecs, { kernel });
      const clean = createAccumulator(oddSpecs, { kernel });
      for (const [i, bad] of [Number.NaN, Infinity, -Infinity].entries()) {
        acc.add(good[2 * i], 1);
        const poisoned = update(1);
        poisoned[i % 2][i % 2 ? 2 : 7] = bad;
        expect(codeOf(() => acc.add(poisoned, 1))).toBe('non-finite-update');
        acc.add(good[2 * i + 1], 2);
        clean.add(good[2 * i], 1);
        clean.add(good[2 * i + 1], 2);
      }
      expect(acc.count).toBe(6);
      expect(acc.sum()).toEqual(clean.sum());
      acc.dispose();
      clean.dispose();
    });

    it(`${kernel}: a finite update whose float32 squares overflow is bounded, not refused`, () => {
      const acc = createAccumulator(oddSpecs, { normBound: 1, kernel });
      const huge = update(1);
      huge[0][0] = 1e20;
      acc.add(huge, 1);
      expect(acc.boundedCount).toBe(1);
      expect(acc.maxUpdateNorm).toBeGreaterThan(1e20 * 0.99);
      const sum = acc.sum();
      expect(sum[0][0]).toBeCloseTo(1, 5);
      acc.dispose();
    });
  }

  for (const kernel of ['auto', 'js'] as const) {
    it(`${kernel}: an update written into staging() and added with addStaged equals add, checks included`, () => {
      const updates = Array.from({ length: 5 }, (_, i) => update(i === 2 ? 40 : 1));
      const viaAdd = createAccumulator(oddSpecs, { normBound: 3, kernel });
      const viaStaging = createAccumulator(oddSpecs, { normBound: 3, kernel });
      updates.forEach((u, i) => {
        viaAdd.add(u, i + 1);
        viaStaging.staging().forEach((view, t) => view.set(u[t]));
        viaStaging.addStaged(i + 1);
      });
      const poisoned = viaStaging.staging();
      poisoned[1][1] = Number.NaN;
      expect(codeOf(() => viaStaging.addStaged(1))).toBe('non-finite-update');
      expect(viaStaging.count).toBe(5);
      expect(viaStaging.boundedCount).toBe(viaAdd.boundedCount);
      expect(viaStaging.boundedCount).toBe(1);
      expect(viaStaging.sum()).toEqual(viaAdd.sum());
      viaAdd.dispose();
      viaStaging.dispose();
    });
  }

  it('the wasm and the JavaScript kernels agree to 1e-7', () => {
    const updates = Array.from({ length: 9 }, () => update(1));
    const [wasm, js] = (['auto', 'js'] as const).map((kernel) => {
      const acc = createAccumulator(oddSpecs, { normBound: 0.7, kernel });
      updates.forEach((u, i) => acc.add(u, i + 1));
      acc.retract(updates[3], 2);
      const mean = acc.mean();
      acc.dispose();
      return mean;
    });
    // The norms differ in the last bits (float32 vs float64 squares), so the bounded scales may too.
    let worst = 0;
    wasm.forEach((t, k) => t.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - js[k][j])))));
    expect(worst).toBeLessThan(1e-7);
  });
});
