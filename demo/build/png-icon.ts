/**
 * The PWA's icons, drawn in code and encoded as PNG at build time: no binary
 * files in the repository and nothing downloaded. A rounded tile with a
 * hand-drawn-looking "7" and three dots (a small flock).
 */
import { crc32, deflateSync } from 'node:zlib';

const PNG_SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  const typeAndData = new Uint8Array(4 + data.length);
  typeAndData.set(new TextEncoder().encode(type), 0);
  typeAndData.set(data, 4);
  out.set(typeAndData, 4);
  view.setUint32(8 + data.length, crc32(typeAndData));
  return out;
}

/**
 * Encode 8-bit RGBA pixels as a PNG (filter 0 on every row).
 *
 * @example
 * writeFileSync('icon.png', encodePng(2, 1, Uint8Array.from([255, 0, 0, 255, 0, 0, 255, 255])));
 */
export function encodePng(width: number, height: number, rgba: Uint8Array): Uint8Array {
  if (rgba.length !== width * height * 4)
    throw new Error(`expected ${width * height * 4} RGBA bytes for ${width}x${height}, got ${rgba.length}`);
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit depth, RGBA, deflate, no filter, no interlace
  const raw = new Uint8Array(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) raw.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (width * 4 + 1) + 1);
  const parts = [
    PNG_SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function distanceToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/**
 * RGBA pixels of the Flock Digits icon at `size` x `size` (maskable-safe: the mark stays inside the central 80%).
 *
 * @example
 * const png = encodePng(192, 192, drawIcon(192));
 */
export function drawIcon(size: number): Uint8Array {
  const px = new Uint8Array(size * size * 4);
  const s = size;
  const radius = 0.18 * s;
  const stroke = 0.075 * s;
  // The "7": a top bar and a slanted stem, in unit coordinates of the tile.
  const segments: [number, number, number, number][] = [
    [0.3, 0.3, 0.7, 0.3],
    [0.7, 0.3, 0.45, 0.74],
  ];
  const dots: [number, number][] = [
    [0.28, 0.72],
    [0.2, 0.6],
    [0.2, 0.8],
  ];
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const i = (y * s + x) * 4;
      // Rounded-square mask.
      const cx = Math.max(radius - x, 0, x - (s - 1 - radius));
      const cy = Math.max(radius - y, 0, y - (s - 1 - radius));
      if (Math.hypot(cx, cy) > radius) continue; // transparent corner
      const shade = Math.round(40 + (60 * y) / s);
      px.set([20, shade, 90 + Math.round((80 * x) / s), 255], i);
      const ux = x / s;
      const uy = y / s;
      const onStroke = segments.some(
        ([ax, ay, bx, by]) => distanceToSegment(ux * s, uy * s, ax * s, ay * s, bx * s, by * s) <= stroke / 2,
      );
      const onDot = dots.some(([dx, dy]) => Math.hypot(ux - dx, uy - dy) * s <= stroke * 0.45);
      if (onStroke) px.set([250, 250, 250, 255], i);
      else if (onDot) px.set([255, 196, 61, 255], i);
    }
  }
  return px;
}
