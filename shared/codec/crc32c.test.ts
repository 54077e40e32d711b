import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { crc32c } from './crc32c.ts';

/** Bit-at-a-time reference straight from the polynomial definition. */
function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('matches the published CRC-32C check value for "123456789"', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('agrees with a bitwise reference on random inputs of every length class', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(crc32c(bytes)).toBe(crc32cBitwise(bytes));
      }),
    );
  });

  it('agrees with the reference on views starting at any byte offset of their buffer (the word-loading path)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 1200 }), fc.nat(7), fc.nat(7), (bytes, from, cut) => {
        const view = bytes.subarray(Math.min(from, bytes.length), Math.max(from, bytes.length - cut));
        expect(crc32c(view)).toBe(crc32cBitwise(view));
      }),
    );
  });

  it('changes when any single bit flips', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (bytes, at, bit) => {
          const flipped = bytes.slice();
          flipped[at % bytes.length] ^= 1 << bit;
          expect(crc32c(flipped)).not.toBe(crc32c(bytes));
        },
      ),
    );
  });
});
