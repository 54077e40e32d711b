/**
 * Turns a drawing into an MNIST-like 28x28 input: MNIST digits are white on
 * black, fitted into a 20x20 box and centred by their centre of mass in the
 * 28x28 frame. Feeding a raw downscaled canvas instead costs the seed model
 * much of its accuracy on hand-drawn digits.
 */

export const MNIST_SIDE = 28;
const BOX = 20;

/**
 * `ink` is a `side` x `side` grayscale image in [0, 1] (1 = ink); returns 784
 * values in [0, 1], all zero when nothing was drawn.
 *
 * @example
 * const input = toMnistInput(inkFromCanvas(canvas), canvas.width);
 */
export function toMnistInput(ink: Float32Array, side: number): Float32Array {
  if (ink.length !== side * side)
    throw new Error(`expected ${side * side} pixels for a ${side}x${side} drawing, got ${ink.length}`);
  let minX = side;
  let minY = side;
  let maxX = -1;
  let maxY = -1;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      if (ink[y * side + x] > 0.05) {
        minX = Math.min(minX, x);
        maxX = Math.max(maxX, x);
        minY = Math.min(minY, y);
        maxY = Math.max(maxY, y);
      }
    }
  }
  const out = new Float32Array(MNIST_SIDE * MNIST_SIDE);
  if (maxX < 0) return out;
  const w = maxX - minX + 1;
  const h = maxY - minY + 1;
  const scale = BOX / Math.max(w, h);
  const boxW = Math.max(1, Math.round(w * scale));
  const boxH = Math.max(1, Math.round(h * scale));
  // Area-average the bounding box into boxW x boxH.
  const box = new Float32Array(boxW * boxH);
  for (let by = 0; by < boxH; by++) {
    for (let bx = 0; bx < boxW; bx++) {
      const x0 = minX + Math.floor((bx * w) / boxW);
      const x1 = minX + Math.max(Math.floor(((bx + 1) * w) / boxW), Math.floor((bx * w) / boxW) + 1);
      const y0 = minY + Math.floor((by * h) / boxH);
      const y1 = minY + Math.max(Math.floor(((by + 1) * h) / boxH), Math.floor((by * h) / boxH) + 1);
      let sum = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += ink[y * side + x];
      box[by * boxW + bx] = Math.min(1, sum / ((x1 - x0) * (y1 - y0)));
    }
  }
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < boxH; y++) {
    for (let x = 0; x < boxW; x++) {
      const v = box[y * boxW + x];
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  const offX = Math.round(MNIST_SIDE / 2 - (mass > 0 ? cx / mass : boxW / 2) - 0.5);
  const offY = Math.round(MNIST_SIDE / 2 - (mass > 0 ? cy / mass : boxH / 2) - 0.5);
  for (let y = 0; y < boxH; y++) {
    for (let x = 0; x < boxW; x++) {
      const tx = x + Math.min(Math.max(offX, 0), MNIST_SIDE - boxW);
      const ty = y + Math.min(Math.max(offY, 0), MNIST_SIDE - boxH);
      out[ty * MNIST_SIDE + tx] = box[y * boxW + x];
    }
  }
  return out;
}
