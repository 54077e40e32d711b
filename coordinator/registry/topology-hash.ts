/**
 * A stable identity for a model architecture: SHA-256 over canonical JSON
 * (object keys sorted at every level, no whitespace). Two packages with the
 * same hash can exchange weights, which is what aggregation relies on.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../shared/manifest/index.ts';

/** The manifest's canonical JSON (sorted keys, no whitespace, refuses non-JSON values) is the one Flock uses everywhere. */
export { canonicalJson };

/**
 * SHA-256 hex of the canonical JSON of a model topology.
 *
 * @example
 * topologyHash(model.toJSON(null, false) as object); // '3f1a…' (64 hex digits)
 */
export function topologyHash(topology: object): string {
  return createHash('sha256').update(canonicalJson(topology)).digest('hex');
}
