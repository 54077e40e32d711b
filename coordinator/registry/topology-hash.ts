/**
 * A stable identity for a model architecture: SHA-256 over canonical JSON
 * (object keys sorted at every level, no whitespace). Two packages with the
 * same hash can exchange weights, which is what aggregation relies on.
 */
import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted recursively.
 *
 * @example
 * canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }); // '{"a":[2,{"c":4,"d":3}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/**
 * SHA-256 hex of the canonical JSON of a model topology.
 *
 * @example
 * topologyHash(model.toJSON(null, false) as object); // '3f1a…' (64 hex digits)
 */
export function topologyHash(topology: object): string {
  return createHash('sha256').update(canonicalJson(topology)).digest('hex');
}
