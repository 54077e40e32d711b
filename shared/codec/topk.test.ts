import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { INDEX_FORMATS, planIndices, readIndices, selectTopk, topkCount, writeIndices } from './topk.ts';
import { CodecError } from './codec-error.ts';

/** Reference: sort indices by magnitude descending, ties by index, take k, sort ascending. */
function topkBySort(data: Float32Array, k: number): number[] {
  return Array.from(data.keys())
    .sort((a, b) => Math.abs(data[b]) - Math.abs(data[a]) || a - b)
    .slice(0, k)
    .sort((a, b) => a - b);
}

const increasingIndices = fc
  .uniqueArray(fc.integer({ min: 0, max: 2 ** 32 - 2 }), { maxLength: 50 })
  .map((xs) => Uint32Array.from(xs.sort((a, b) => a - b)));

describe('top-k selection', () => {
  it('agrees with a full sort, including heavy ties', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -4, max: 4 }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        (ints, fraction) => {
          const data = Float32Array.from(ints);
          const k = topkCount(data.length, fraction);
          expect(k).toBe(Math.ceil(fraction * data.length));
          expect(Array.from(selectTopk(data, k))).toEqual(topkBySort(data, k));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('delta index coding', () => {
  it('round-trips in every format that can hold the deltas, and the plan picks the smallest', () => {
    fc.assert(
      fc.property(increasingIndices, (indices) => {
        const n = 2 ** 32 - 1;
        const sizes: number[] = [];
        for (const format of INDEX_FORMATS) {
          let max = 0;
          for (let i = 0; i < indices.length; i++) max = Math.max(max, indices[i] - (i ? indices[i - 1] : 0));
          if (format === 'u16' && max > 0xffff) continue;
          const len =
            format === 'u16' ? 2 * indices.length : format === 'u32' ? 4 * indices.length : planVarintLength(indices);
          const buf = new Uint8Array(len);
          writeIndices(indices, format, buf);
          expect(Array.from(readIndices(buf, format, indices.length, n, 't'))).toEqual(Array.from(indices));
          sizes.push(len);
        }
        expect(planIndices(indices).byteLength).toBe(Math.min(...sizes));
      }),
    );
  });

  it('rejects repeated, out-of-range, overlong and trailing indices with CodecError', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof CodecError ? e.code : 'other';
      }
      return 'none';
    };
    expect(code(() => readIndices(new Uint8Array([2, 0]), 'varint', 2, 10, 't'))).toBe('bad_encoding');
    expect(code(() => readIndices(new Uint8Array([9, 1]), 'varint', 2, 10, 't'))).toBe('bad_encoding');
    expect(code(() => readIndices(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x7f]), 'varint', 1, 10, 't'))).toBe(
      'bad_encoding',
    );
    expect(code(() => readIndices(new Uint8Array([1, 1, 7]), 'varint', 2, 10, 't'))).toBe('bad_encoding');
    expect(code(() => readIndices(new Uint8Array([1, 0]), 'u16', 2, 10, 't'))).toBe('bad_encoding');
    expect(code(() => readIndices(new Uint8Array([1, 0, 0]), 'u32', 1, 10, 't'))).toBe('bad_encoding');
    expect(Array.from(readIndices(new Uint8Array([3, 1, 5]), 'varint', 3, 10, 't'))).toEqual([3, 4, 9]);
  });
});

function planVarintLength(indices: Uint32Array): number {
  let len = 0;
  for (let i = 0; i < indices.length; i++) {
    let d = indices[i] - (i ? indices[i - 1] : 0);
    do {
      len++;
      d = Math.floor(d / 128);
    } while (d > 0);
  }
  return len;
}
