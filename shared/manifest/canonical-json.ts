/**
 * Canonical JSON: the exact bytes a manifest signature covers.
 *
 * Object keys sorted by UTF-16 code units, no whitespace, numbers and strings
 * as `JSON.stringify` writes them (ECMAScript fixes both), which makes it
 * agree with RFC 8785 (JCS) for the data manifests hold. Signer and verifier
 * may build the same manifest with keys in different orders; both arrive at
 * the same bytes. Values JSON cannot carry faithfully (NaN, Infinity,
 * undefined in arrays, functions, bigints, class instances) are refused
 * rather than silently rewritten, so a signature never covers a lossy form.
 */

/** Thrown for a value canonical JSON refuses; `path` locates it, e.g. `$.variants[0].totalBytes`. */
export class CanonicalJsonError extends Error {
  readonly path: string;
  constructor(path: string, what: string) {
    super(
      `cannot canonicalize ${what} at ${path}: manifests carry only finite numbers, strings, booleans, null, arrays and plain objects`,
    );
    this.name = 'CanonicalJsonError';
    this.path = path;
  }
}

function write(value: unknown, path: string, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(path, String(value));
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(path, typeof value);
  }
  const obj = value as object;
  if (seen.has(obj)) throw new CanonicalJsonError(path, 'a cycle');
  seen.add(obj);
  let out: string;
  if (Array.isArray(obj)) {
    out = `[${obj.map((item, i) => (item === undefined ? fail(`${path}[${i}]`) : write(item, `${path}[${i}]`, seen))).join(',')}]`;
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null)
      throw new CanonicalJsonError(path, `a ${proto?.constructor?.name ?? 'non-plain'} object`);
    const record = obj as Record<string, unknown>;
    // Absent and undefined are the same after a JSON round trip, so both are omitted.
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    out = `{${keys.map((k) => `${JSON.stringify(k)}:${write(record[k], `${path}.${k}`, seen)}`).join(',')}}`;
  }
  seen.delete(obj);
  return out;
}

function fail(path: string): never {
  throw new CanonicalJsonError(path, 'undefined');
}

/**
 * Canonical JSON text of `value`.
 *
 * @example
 * canonicalJson({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$', new Set());
}

/**
 * UTF-8 bytes of the canonical JSON of `value`.
 *
 * @example
 * const bytes = canonicalJsonBytes(manifest);
 */
export function canonicalJsonBytes(value: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(canonicalJson(value));
}
