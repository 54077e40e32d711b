import { describe, expect, it } from 'vitest';
import { paddedLength, rotate, rotationSigns, unrotate, walshHadamardInPlace } from './hadamard-rotation.ts';
import { SecAggError } from './secagg-error.ts';

const seed = new Uint8Array(32).fill(7);

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

describe('randomised Hadamard rotation', () => {
  it('pads to the next power of 2', () => {
    expect([1, 2, 3, 1000, 1024, 1025].map(paddedLength)).toEqual([1, 2, 4, 1024, 1024, 2048]);
  });

  it('H / sqrt(n) of a unit vector spreads it evenly: every entry +-1/sqrt(n)', () => {
    const x = new Float64Array(8);
    x[3] = 1;
    walshHadamardInPlace(x);
    for (const v of x) expect(Math.abs(v)).toBeCloseTo(1 / Math.sqrt(8), 15);
  });

  it('is orthogonal (norm kept) and invertible, for a length that needs padding', async () => {
    const d = 1000;
    const x = Float64Array.from({ length: d }, (_, i) => Math.sin(i * 0.37) * (i % 7));
    const signs = await rotationSigns(seed, 'round-1', paddedLength(d));
    const y = rotate(x, signs);
    expect(y.length).toBe(1024);
    expect(norm(y)).toBeCloseTo(norm(x), 10);
    const back = unrotate(y, signs, d);
    for (let i = 0; i < d; i++) expect(back[i]).toBeCloseTo(x[i], 12);
  });

  it('draws about half the signs negative, the same for the same seed and round, others for another round', async () => {
    const a = await rotationSigns(seed, 'round-1', 4096);
    const b = await rotationSigns(seed, 'round-1', 4096);
    const c = await rotationSigns(seed, 'round-2', 4096);
    expect(Array.from(a)).toEqual(Array.from(b));
    const negatives = a.filter((s) => s === -1).length;
    expect(Math.abs(negatives - 2048)).toBeLessThan(5 * 32); // 5 sigma of Binomial(4096, 1/2)
    expect(a.some((s, i) => s !== c[i])).toBe(true);
  });

  it('refuses a short seed and a non-power-of-2 transform', async () => {
    await expect(rotationSigns(new Uint8Array(8), 'r', 4)).rejects.toThrow(SecAggError);
    expect(() => walshHadamardInPlace(new Float64Array(6))).toThrow(/power-of-2/);
  });
});
