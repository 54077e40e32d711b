import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  CodecError,
  decodeTensors,
  encodeTensors,
  readTensorTable,
  type CodecErrorCode,
  type DenseEncoding,
  type NamedTensor,
  type TensorEncodingSpec,
} from './index.ts';
import { crc32c } from './crc32c.ts';
import { floatBits, halfBitsFromFloatBits, halfTable } from './fp16.ts';

/** Recomputes the trailing checksum so a mutation reaches the structural checks. */
function reseal(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32c(out.subarray(0, out.length - 4)), true);
  return out;
}

function errorCode(f: () => unknown): CodecErrorCode | 'none' | 'other' {
  try {
    f();
  } catch (e) {
    return e instanceof CodecError ? e.code : 'other';
  }
  return 'none';
}

const shapeArb = fc.oneof(
  fc.constant<number[]>([]),
  fc.tuple(fc.integer({ min: 0, max: 40 })).map((s) => [...s]),
  fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 6 })).map((s) => [...s]),
  fc
    .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }))
    .map((s) => [...s]),
);

const tensorArb = (maxAbs: number) =>
  shapeArb.chain((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return fc
      .float32Array({
        min: Math.fround(-maxAbs),
        max: Math.fround(maxAbs),
        noNaN: true,
        noDefaultInfinity: true,
        minLength: n,
        maxLength: n,
      })
      .map((data) => ({ shape, data }));
  });

const tensorsArb = (maxAbs: number) =>
  fc
    .uniqueArray(fc.string({ unit: 'grapheme', maxLength: 12 }), { maxLength: 5 })
    .chain((names) =>
      fc
        .tuple(...names.map(() => tensorArb(maxAbs)))
        .map((ts) => ts.map((t, i): NamedTensor => ({ name: names[i], ...t }))),
    );

function lastAxisChannels(shape: number[]): number {
  return shape.length >= 2 ? shape[shape.length - 1] : 1;
}

describe('round trips', () => {
  it('fp32 is exact and keeps names, shapes and order', () => {
    fc.assert(
      fc.property(tensorsArb(3e38), (tensors) => {
        const out = decodeTensors(encodeTensors(tensors, { encoding: 'fp32' }));
        expect(out.map((t) => [t.name, t.shape])).toEqual(tensors.map((t) => [t.name, t.shape]));
        out.forEach((t, i) => expect(Array.from(t.data)).toEqual(Array.from(tensors[i].data)));
      }),
      { numRuns: 150 },
    );
  });

  it('fp16 gives each value its nearest half', () => {
    const table = halfTable();
    fc.assert(
      fc.property(tensorsArb(65504), (tensors) => {
        const out = decodeTensors(encodeTensors(tensors, { encoding: 'fp16' }));
        out.forEach((t, i) =>
          tensors[i].data.forEach((x, j) => {
            expect(t.data[j]).toBe(table[halfBitsFromFloatBits(floatBits(x))]);
            // And that half is at most half a unit in the last place away.
            expect(Math.abs(t.data[j] - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25));
          }),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('int8 stays within half a quantization step per output channel', () => {
    fc.assert(
      fc.property(tensorsArb(1e6), (tensors) => {
        const out = decodeTensors(encodeTensors(tensors, { encoding: 'int8' }));
        out.forEach((t, i) => {
          const src = tensors[i];
          const c = lastAxisChannels(src.shape);
          const lo = new Array<number>(c).fill(0);
          const hi = new Array<number>(c).fill(0);
          src.data.forEach((x, j) => {
            lo[j % c] = Math.min(lo[j % c], x);
            hi[j % c] = Math.max(hi[j % c], x);
          });
          src.data.forEach((x, j) => {
            const step = ((hi[j % c] - lo[j % c]) / 255) * (1 + 2 ** -22);
            expect(Math.abs(t.data[j] - x)).toBeLessThanOrEqual(step / 2 + Math.abs(x) * 2 ** -22 + 1e-38);
          });
        });
      }),
      { numRuns: 150 },
    );
  });

  it('topk keeps exactly ceil(f*n) largest-magnitude entries and zeroes the rest', () => {
    fc.assert(
      fc.property(
        tensorsArb(1e3),
        fc.double({ min: 1e-3, max: 1, noNaN: true }),
        fc.constantFrom<DenseEncoding>('fp32', 'fp16', 'int8'),
        (tensors, fraction, values) => {
          const spec: TensorEncodingSpec = { encoding: 'topk', topkFraction: fraction, topkValues: values };
          const bytes = encodeTensors(tensors, spec);
          const table = readTensorTable(bytes);
          const out = decodeTensors(bytes);
          out.forEach((t, i) => {
            const src = tensors[i].data;
            expect(table[i].valueEncoding).toBe(values);
            const k = Math.ceil(fraction * src.length);
            const kept = Array.from(src.keys()).filter((j) => t.data[j] !== 0);
            expect(kept.length).toBeLessThanOrEqual(k); // kept zeros (or values rounding to 0) are invisible
            const keptSet = new Set(kept);
            const minKept = Math.min(...kept.map((j) => Math.abs(src[j])));
            for (let j = 0; j < src.length; j++) {
              if (!keptSet.has(j)) {
                if (values === 'fp32') expect(t.data[j] === 0).toBe(true); // +0 or a kept -0
                if (kept.length === k) expect(Math.abs(src[j])).toBeLessThanOrEqual(minKept);
              } else if (values === 'fp32') {
                expect(t.data[j]).toBe(src[j]);
              }
            }
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('applies a per-tensor spec function and reports it in the table', () => {
    const tensors: NamedTensor[] = [
      { name: 'conv/kernel', shape: [3, 3, 1, 4], data: Float32Array.from({ length: 36 }, (_, i) => Math.sin(i)) },
      { name: 'conv/bias', shape: [4], data: new Float32Array([0.1, -0.2, 0.3, 0]) },
      { name: '\uFEFFbom-name ✓', shape: [], data: new Float32Array([42]) },
    ];
    const bytes = encodeTensors(tensors, (t) => (t.shape.length > 1 ? { encoding: 'int8' } : { encoding: 'fp16' }));
    const table = readTensorTable(bytes);
    expect(table.map((e) => [e.name, e.encoding])).toEqual([
      ['conv/kernel', 'int8'],
      ['conv/bias', 'fp16'],
      ['\uFEFFbom-name ✓', 'fp16'],
    ]);
    for (const e of table) expect(e.byteOffset % 4).toBe(0);
    expect(decodeTensors(bytes)[2].data[0]).toBe(42);
  });
});

describe('zero copy and alignment', () => {
  const tensors: NamedTensor[] = [{ name: 'w', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }];

  it('returns fp32 bodies as views over the input buffer', () => {
    const bytes = encodeTensors(tensors, { encoding: 'fp32' });
    const [w] = decodeTensors(bytes);
    expect(w.data.buffer).toBe(bytes.buffer);
  });

  it('decodes an unaligned copy of the bytes correctly (by copying once)', () => {
    const bytes = encodeTensors(tensors, { encoding: 'fp32' });
    const host = new Uint8Array(bytes.length + 1);
    host.set(bytes, 1);
    const [w] = decodeTensors(host.subarray(1));
    expect(w.data.buffer).not.toBe(host.buffer);
    expect(Array.from(w.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reads the table from a prefix holding only header and table', () => {
    const bytes = encodeTensors(tensors, { encoding: 'fp32' });
    const [entry] = readTensorTable(bytes.subarray(0, bytes.length - 28));
    expect(entry).toEqual({
      name: 'w',
      shape: [2, 3],
      encoding: 'fp32',
      byteOffset: bytes.length - 28,
      byteLength: 24,
    });
  });
});

describe('decoding rejects bad input with the right code', () => {
  const good = encodeTensors(
    [
      { name: 'a', shape: [4, 2], data: Float32Array.from([1, -2, 3, -4, 5, -6, 7, -8]) },
      { name: 'b', shape: [100], data: Float32Array.from({ length: 100 }, (_, i) => i - 50) },
    ],
    (t) => (t.name === 'a' ? { encoding: 'fp32' } : { encoding: 'topk', topkFraction: 0.1 }),
  );
  const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

  it('truncated, bad magic, version, checksum, trailing bytes', () => {
    expect(errorCode(() => decodeTensors(good.subarray(0, good.length - 1)))).toBe('truncated');
    expect(errorCode(() => decodeTensors(good.subarray(0, 10)))).toBe('truncated');
    expect(errorCode(() => decodeTensors(new Uint8Array(0)))).toBe('truncated');
    expect(errorCode(() => decodeTensors(new TextEncoder().encode('{"json":true}')))).toBe('bad_magic');
    const v2 = good.slice();
    dv(v2).setUint16(4, 2, true);
    expect(errorCode(() => decodeTensors(v2))).toBe('unsupported_version');
    const flipped = good.slice();
    flipped[good.length - 10] ^= 1;
    expect(errorCode(() => decodeTensors(flipped))).toBe('bad_checksum');
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expect(errorCode(() => decodeTensors(longer))).toBe('length_mismatch');
  });

  it('limits are enforced before decoding', () => {
    expect(errorCode(() => decodeTensors(good, { maxTensors: 1 }))).toBe('limit_exceeded');
    expect(errorCode(() => decodeTensors(good, { maxElementsPerTensor: 99 }))).toBe('limit_exceeded');
    expect(errorCode(() => decodeTensors(good, { maxTotalElements: 107 }))).toBe('limit_exceeded');
    expect(errorCode(() => decodeTensors(good, { maxNameBytes: 0 }))).toBe('limit_exceeded');
    expect(errorCode(() => decodeTensors(good, { maxRank: 1 }))).toBe('limit_exceeded');
    expect(decodeTensors(good, { maxTotalElements: 108 })).toHaveLength(2);
  });

  it('a tiny message claiming a huge tensor is refused without allocating it', () => {
    // Tensor "a" is [4, 2]; claim [4, 2^31] instead and reseal.
    const huge = good.slice();
    const dimAt = 20 + 4 + 4 + 4; // header, entry prefix, padded name "a", first dim
    dv(huge).setUint32(dimAt, 2 ** 31, true);
    expect(
      errorCode(() => decodeTensors(reseal(huge), { maxElementsPerTensor: 2 ** 40, maxTotalElements: 2 ** 40 })),
    ).toBe('length_mismatch');
    expect(errorCode(() => decodeTensors(reseal(huge)))).toBe('limit_exceeded');
  });

  it('non-finite values are rejected unless allowed', () => {
    const nan = encodeTensors([{ name: 'x', shape: [2], data: new Float32Array([1, Number.NaN]) }], {
      encoding: 'fp32',
    });
    expect(errorCode(() => decodeTensors(nan))).toBe('non_finite');
    expect(Number.isNaN(decodeTensors(nan, { allowNonFinite: true })[0].data[1])).toBe(true);
    const inf = encodeTensors([{ name: 'x', shape: [1], data: new Float32Array([-Infinity]) }], { encoding: 'fp16' });
    expect(errorCode(() => decodeTensors(inf))).toBe('non_finite');
  });

  it('topk indices that are not increasing are bad_encoding even with a valid checksum', () => {
    const [, b] = readTensorTable(good);
    const broken = good.slice();
    broken[b.byteOffset + 1] = 0; // second delta 0: a repeated index
    expect(errorCode(() => decodeTensors(reseal(broken)))).toBe('bad_encoding');
  });

  it('bad_input on the encode side names the problem', () => {
    expect(
      errorCode(() => encodeTensors([{ name: 'x', shape: [3], data: new Float32Array(2) }], { encoding: 'fp32' })),
    ).toBe('bad_input');
    expect(
      errorCode(() => encodeTensors([{ name: 'x', shape: [1.5], data: new Float32Array(1) }], { encoding: 'fp32' })),
    ).toBe('bad_input');
    expect(
      errorCode(() => encodeTensors([{ name: 'x', shape: [1], data: new Float32Array(1) }], { encoding: 'topk' })),
    ).toBe('bad_input');
    expect(
      errorCode(() =>
        encodeTensors([{ name: 'x', shape: [1], data: new Float32Array([Infinity]) }], { encoding: 'int8' }),
      ),
    ).toBe('bad_input');
    const dup = { name: 'x', shape: [1], data: new Float32Array(1) };
    expect(errorCode(() => encodeTensors([dup, dup], { encoding: 'fp32' }))).toBe('bad_input');
  });
});

describe('fuzzing: decode either succeeds or throws CodecError', () => {
  const specArb = fc.oneof(
    fc.constantFrom<TensorEncodingSpec>({ encoding: 'fp32' }, { encoding: 'fp16' }, { encoding: 'int8' }),
    fc.record({
      encoding: fc.constant('topk' as const),
      topkFraction: fc.double({ min: 0.01, max: 1, noNaN: true }),
      topkValues: fc.constantFrom<DenseEncoding>('fp32', 'fp16', 'int8'),
    }),
  );
  const validArb = fc.tuple(tensorsArb(100), specArb).map(([ts, spec]) => encodeTensors(ts, spec));
  const limits = { maxTotalElements: 1 << 16, maxElementsPerTensor: 1 << 16 };

  function neverAnotherError(bytes: Uint8Array): void {
    const code = errorCode(() => {
      const out = decodeTensors(bytes, limits);
      expect(out.reduce((s, t) => s + t.data.length, 0)).toBeLessThanOrEqual(limits.maxTotalElements);
    });
    expect(code).not.toBe('other');
    expect(errorCode(() => readTensorTable(bytes, limits))).not.toBe('other');
  }

  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), neverAnotherError), { numRuns: 300 });
  });

  it('random bytes behind a valid magic and version', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (tail) => {
        const bytes = new Uint8Array(6 + tail.length);
        bytes.set([0x46, 0x4c, 0x4b, 0x54, 1, 0]);
        bytes.set(tail, 6);
        neverAnotherError(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('single-byte mutations and truncations of valid containers, with and without a fixed-up checksum', () => {
    fc.assert(
      fc.property(validArb, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat(), (bytes, at, xor, cut) => {
        const mutated = bytes.slice();
        mutated[at % bytes.length] ^= xor;
        expect(errorCode(() => decodeTensors(mutated, limits))).not.toBe('none'); // CRC-32C catches every single-byte error
        neverAnotherError(reseal(mutated));
        const short = bytes.subarray(0, cut % bytes.length);
        expect(errorCode(() => decodeTensors(short, limits))).not.toBe('none');
        neverAnotherError(short);
      }),
      { numRuns: 400 },
    );
  });
});
