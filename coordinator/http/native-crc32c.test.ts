import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError, crc32c, decodeTensors, encodeTensors } from '../../shared/codec/index.ts';
import { hostCrc32c, hostCrc32cKind } from './native-crc32c.ts';

describe('hostCrc32c', () => {
  it('is the CPU instruction where @node-rs/crc32 ships a binary for this platform', () => {
    const shipped = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64'];
    if (!shipped.includes(`${process.platform}-${process.arch}`)) return;
    expect(hostCrc32cKind).toBe('native');
  });

  it('agrees with the portable CRC-32C on views at any offset of their buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(9), (bytes, from) => {
        const view = bytes.subarray(Math.min(from, bytes.length));
        expect(hostCrc32c(view)).toBe(crc32c(view));
      }),
    );
  });

  it('lets decodeTensors refuse a container with one flipped bit', () => {
    const bytes = encodeTensors([{ name: 'w', shape: [300], data: new Float32Array(300).fill(0.25) }], {
      encoding: 'int8',
    });
    expect(decodeTensors(bytes, { crc32c: hostCrc32c })[0].data[7]).toBeCloseTo(0.25, 2);
    fc.assert(
      fc.property(fc.nat(bytes.length - 5), fc.nat(7), (at, bit) => {
        const bad = bytes.slice();
        bad[at] ^= 1 << bit;
        const error = (() => {
          try {
            decodeTensors(bad, { crc32c: hostCrc32c });
          } catch (e) {
            return e;
          }
        })();
        expect(error).toBeInstanceOf(CodecError);
      }),
    );
  });
});
