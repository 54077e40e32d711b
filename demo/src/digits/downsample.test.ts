import { describe, expect, it } from 'vitest';
import { MNIST_SIDE, toMnistInput } from './downsample.ts';

function drawing(side: number, fill: (x: number, y: number) => boolean): Float32Array {
  const ink = new Float32Array(side * side);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) ink[y * side + x] = fill(x, y) ? 1 : 0;
  return ink;
}

function centreOfMass(img: Float32Array): { x: number; y: number; mass: number } {
  let mass = 0;
  let x = 0;
  let y = 0;
  img.forEach((v, i) => {
    mass += v;
    x += v * (i % MNIST_SIDE);
    y += v * Math.floor(i / MNIST_SIDE);
  });
  return { x: x / mass, y: y / mass, mass };
}

describe('toMnistInput', () => {
  it('returns a blank input for a blank drawing', () => {
    expect(toMnistInput(new Float32Array(280 * 280), 280).every((v) => v === 0)).toBe(true);
  });

  it('fits a stroke drawn in a corner into the 20x20 box, centred by mass', () => {
    // A vertical bar in the top-left corner of a 280x280 canvas.
    const out = toMnistInput(
      drawing(280, (x, y) => x >= 10 && x < 40 && y >= 5 && y < 125),
      280,
    );
    const { x, y, mass } = centreOfMass(out);
    expect(Math.abs(x - 13.5)).toBeLessThan(1.01);
    expect(Math.abs(y - 13.5)).toBeLessThan(1.01);
    const rows = new Set<number>();
    out.forEach((v, i) => v > 0 && rows.add(Math.floor(i / MNIST_SIDE)));
    expect(rows.size).toBe(20); // the long side spans the box
    expect(mass).toBeGreaterThan(20 * 4);
    expect(out.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('refuses a drawing of the wrong size', () => {
    expect(() => toMnistInput(new Float32Array(10), 280)).toThrow(/78400 pixels/);
  });
});
