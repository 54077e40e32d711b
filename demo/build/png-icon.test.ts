import { describe, expect, it } from 'vitest';
import { crc32, inflateSync } from 'node:zlib';
import { drawIcon, encodePng } from './png-icon.ts';

/** Minimal PNG reader for the encoder's own output: checks CRCs and unfilters rows. */
function readPng(bytes: Uint8Array): { width: number; height: number; rgba: Uint8Array; types: string[] } {
  expect(Array.from(bytes.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const types: string[] = [];
  let width = 0;
  let height = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at < bytes.length; ) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    expect(view.getUint32(at + 8 + length)).toBe(crc32(bytes.subarray(at + 4, at + 8 + length)));
    types.push(type);
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      expect(Array.from(data.subarray(8))).toEqual([8, 6, 0, 0, 0]);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width * 4 + 1)]).toBe(0);
    rgba.set(raw.subarray(y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1)), y * width * 4);
  }
  return { width, height, rgba, types };
}

describe('PNG icons', () => {
  it('round-trips pixels through the encoder', () => {
    const pixels = Uint8Array.from({ length: 3 * 2 * 4 }, (_, i) => (i * 37) % 256);
    const png = readPng(encodePng(3, 2, pixels));
    expect(png.types).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect([png.width, png.height]).toEqual([3, 2]);
    expect(Array.from(png.rgba)).toEqual(Array.from(pixels));
  });

  it('refuses a pixel buffer of the wrong size', () => {
    expect(() => encodePng(2, 2, new Uint8Array(15))).toThrow(/16 RGBA bytes/);
  });

  it('draws a tile with transparent corners, a white mark and an opaque centre', () => {
    for (const size of [192, 512]) {
      const icon = drawIcon(size);
      expect(icon.length).toBe(size * size * 4);
      expect(icon[3]).toBe(0); // top-left corner is outside the rounded tile
      const at = (x: number, y: number) => Array.from(icon.subarray((y * size + x) * 4, (y * size + x) * 4 + 4));
      expect(at(size >> 1, Math.round(0.3 * size))).toEqual([250, 250, 250, 255]); // on the 7's top bar
      expect(at(Math.round(0.85 * size), Math.round(0.85 * size))[3]).toBe(255);
    }
  });
});
