import { describe, expect, it } from 'vitest';
import { createFoldKernel } from './fold-kernel.ts';

let seed = 11;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.2;
const filled = (n: number) => Float32Array.from({ length: n }, rand);

describe('fold kernel', () => {
  it('runs on WebAssembly SIMD in Node 20', () => {
    expect(createFoldKernel([100]).kind).toBe('wasm-simd');
    expect(createFoldKernel([100], { implementation: 'js' }).kind).toBe('js');
  });

  it('lays tensors out at 16-float boundaries', () => {
    expect(createFoldKernel([5, 0, 17, 3]).offsets).toEqual([0, 16, 16, 48]);
  });

  for (const implementation of ['auto', 'js'] as const) {
    describe(implementation, () => {
      // Sizes across the 1,024-float block and the 16-float step, and an empty tensor.
      const sizes = [20_003, 5, 8192, 0, 31];

      it('sums squares to 1e-6 relative (float32 squares, float64 totals); a NaN or infinity makes it non-finite', () => {
        const k = createFoldKernel(sizes, { implementation });
        const u = sizes.map(filled);
        let reference = 0;
        for (const t of u) for (const v of t) reference += v * v;
        expect(Math.abs(k.stage(u, 1) - reference) / reference).toBeLessThan(1e-6);
        for (const bad of [Number.NaN, Infinity, -Infinity]) {
          const poisoned = u.map((t) => t.slice());
          poisoned[0][20_002] = bad;
          expect(Number.isFinite(k.stage(poisoned, 1))).toBe(false);
        }
      });

      it('stage + commit adds with float32 rounding per add; an uncommitted stage leaves the sum as it was', () => {
        const k = createFoldKernel(sizes, { implementation });
        const expected = sizes.map((n) => new Float32Array(n));
        for (let m = 0; m < 5; m++) {
          const u = sizes.map(filled);
          const scale = 0.5 + m;
          k.stage(u, scale);
          if (m === 2) continue; // staged, never committed
          k.commit();
          const s = Math.fround(scale);
          u.forEach((t, i) => t.forEach((v, j) => (expected[i][j] = Math.fround(expected[i][j] + Math.fround(s * v)))));
        }
        const sum = k.sum();
        sizes.forEach((n, i) => {
          expect(Array.from(sum.subarray(k.offsets[i], k.offsets[i] + n))).toEqual(Array.from(expected[i]));
          const padEnd = i + 1 < sizes.length ? k.offsets[i + 1] : sum.length;
          expect(sum.subarray(k.offsets[i] + n, padEnd).every((v) => v === 0)).toBe(true);
        });
      });
    });
  }
});
