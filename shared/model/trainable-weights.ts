/**
 * Which weights of a model local training changes and uploads: all but those
 * of the layers a version's spec freezes (`frozenLayers` in flock-model.json).
 * The device and the coordinator both derive the set from the spec with this
 * one function, so the update a device sends and the shape the coordinator
 * expects cannot drift apart.
 */
import type { WeightSpec } from './parts.ts';

/**
 * The layer a weight belongs to: the part of its name before the first '/'
 * ('dense_1/kernel' -> 'dense_1'), as model.json names weights and as the
 * registry checks `frozenLayers` at push.
 */
export function layerOfWeight(weightName: string): string {
  const slash = weightName.indexOf('/');
  return slash < 0 ? weightName : weightName.slice(0, slash);
}

/** Whether a weight belongs to one of the frozen layers. */
export function isFrozenWeight(weightName: string, frozenLayers: ReadonlySet<string>): boolean {
  return frozenLayers.has(layerOfWeight(weightName));
}

/**
 * The specs of the weights that train, in their original order.
 *
 * @example
 * trainableWeightSpecs(version.weightSpecs, new Set(spec.frozenLayers ?? [])); // only the head's kernel and bias
 */
export function trainableWeightSpecs<S extends Pick<WeightSpec, 'name'>>(
  specs: readonly S[],
  frozenLayers: ReadonlySet<string>,
): S[] {
  return specs.filter((s) => !isFrozenWeight(s.name, frozenLayers));
}
