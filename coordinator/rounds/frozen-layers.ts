/**
 * The layers a round's model version keeps frozen, read from the version's
 * own spec (`frozenLayers` in flock-model.json, stored with the version and
 * copied to every round version), never from what a device claims: the
 * update shape the coordinator admits is the trainable rest.
 *
 * The spec blob is content-addressed and immutable, so its frozen set is
 * cached by hash: a cache of what the store already holds, recomputed after
 * a restart, and no blob read per upload.
 */
import { modelSpecRefOf, loadModelSpec } from '../registry/model-spec-file.ts';
import type { ModelVersion, Store } from '../store/index.ts';

const NONE: ReadonlySet<string> = new Set();
const MAX_CACHED_SPECS = 256;
const bySpecHash = new Map<string, ReadonlySet<string>>();

/**
 * The frozen layer names of a version (empty for a version without a spec or without frozen layers).
 *
 * @example
 * const frozen = await frozenLayersOf(store, version); // Set { 'conv1', 'conv2', 'dense1' }
 */
export async function frozenLayersOf(
  store: Store,
  version: Pick<ModelVersion, 'topology'>,
): Promise<ReadonlySet<string>> {
  const ref = modelSpecRefOf(version);
  if (!ref) return NONE;
  const cached = bySpecHash.get(ref.hash);
  if (cached) return cached;
  const spec = await loadModelSpec(store, version);
  const frozen: ReadonlySet<string> = spec?.frozenLayers?.length ? new Set(spec.frozenLayers) : NONE;
  if (bySpecHash.size >= MAX_CACHED_SPECS) bySpecHash.clear();
  bySpecHash.set(ref.hash, frozen);
  return frozen;
}
