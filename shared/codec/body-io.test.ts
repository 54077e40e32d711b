import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readF32, readU16, writeF32, writeU16 } from './body-io.ts';

describe('body sections', () => {
  it('the DataView fallback (big-endian hosts, unaligned input) writes and reads the same bytes as native views', () => {
    fc.assert(
      fc.property(
        fc.float32Array({ noNaN: true, maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }),
        (floats, halves) => {
          const u16 = Uint16Array.from(halves);
          const native = new Uint8Array(8 + 4 * floats.length + 2 * u16.length);
          const fallback = new Uint8Array(native.length);
          writeF32(native, 8, floats, true);
          writeF32(fallback, 8, floats, false);
          writeU16(native, 8 + 4 * floats.length, u16, true);
          writeU16(fallback, 8 + 4 * floats.length, u16, false);
          expect(fallback).toEqual(native);
          // Little-endian on the wire, whatever the host: check one value byte by byte.
          if (floats.length > 0) expect(new DataView(native.buffer).getFloat32(8, true)).toBe(floats[0]);
          expect(Array.from(readF32(native, 8, floats.length, false))).toEqual(Array.from(floats));
          expect(Array.from(readF32(native, 8, floats.length, true))).toEqual(Array.from(floats));
          expect(Array.from(readU16(native, 8 + 4 * floats.length, u16.length, false))).toEqual(halves);
        },
      ),
    );
  });

  it('copies instead of viewing when the section is not aligned in its buffer', () => {
    const host = new Uint8Array(13);
    new DataView(host.buffer).setFloat32(1, 1.5, true);
    const view = readF32(host.subarray(1), 0, 1, true);
    expect(view[0]).toBe(1.5);
    expect(view.buffer).not.toBe(host.buffer);
  });
});
