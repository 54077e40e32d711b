import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, canonicalJson } from './canonical-json.ts';

/** Rebuilds `value` with every object's keys inserted in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).reverse()) {
      // defineProperty, because fc.jsonValue() may generate a "__proto__" key.
      Object.defineProperty(out, k, {
        value: reverseKeys((value as Record<string, unknown>)[k]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: 'é' }], c: true } })).toBe(
      '{"a":{"c":true,"d":[3,{"y":"é","z":null}]},"b":1}',
    );
  });

  it('is independent of key insertion order and parses back to an equal value (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(reverseKeys(value))).toBe(text);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it('omits undefined object members like a JSON round trip does', () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
  });

  it('refuses values JSON cannot carry faithfully, naming where', () => {
    const bad: Array<[unknown, string]> = [
      [{ a: Number.NaN }, '$.a'],
      [{ a: [1, Number.POSITIVE_INFINITY] }, '$.a[1]'],
      [[undefined], '$[0]'],
      [{ f: () => 1 }, '$.f'],
      [{ n: 1n }, '$.n'],
      [{ d: new Date(0) }, '$.d'],
    ];
    for (const [value, path] of bad) {
      let thrown: unknown;
      try {
        canonicalJson(value);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(CanonicalJsonError);
      expect((thrown as CanonicalJsonError).path).toBe(path);
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(CanonicalJsonError);
  });
});
