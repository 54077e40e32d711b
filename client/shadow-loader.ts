/**
 * Loads a rollout's shadow version for side-by-side comparison. The shadow
 * manifest is signed like any other and verified with the same trusted key,
 * and must have been issued as a shadow (`purpose: 'shadow'`): a model
 * manifest offered here is refused, as the model loader refuses a shadow
 * manifest. Its weights are kept in memory only (never activated, never in
 * IndexedDB), since the shadow's answers are never shown to the user.
 *
 * The device asks for a shadow only when its manifest says the rollout runs
 * one (`rollout.shadow`), so apps without a shadow never see a 404 for it.
 */
import type * as tf from '@tensorflow/tfjs';
import { decodeTensors } from '../shared/codec/index.ts';
import { verifyManifest, verifySha256, type Manifest } from '../shared/manifest/index.ts';
import { modelFromParts } from '../shared/model/index.ts';
import type { ShadowAssignment } from './federated/device-answers.ts';
import type { FlockTransport } from './federated/transport.ts';
import { chooseVariant, concat, parseTopology } from './model-loader.ts';

export type { ShadowAssignment } from './federated/device-answers.ts';

export interface LoadedShadow {
  version: number;
  sampleRate: number;
  model: tf.LayersModel;
}

/**
 * Whether the manifest a device runs says its rollout has a shadow to fetch.
 * @example
 * if (shadowAdvertised(manifest)) assignment = await transport.getShadowAssignment(app);
 */
export function shadowAdvertised(manifest: Pick<Manifest, 'rollout'> | null | undefined): boolean {
  return manifest?.rollout?.shadow === true;
}

/**
 * Verifies the shadow manifest and builds its model in memory.
 * @example
 * const shadow = await loadShadow(transport, assignment, trustedKey, 'digits', false);
 */
export async function loadShadow(
  transport: FlockTransport,
  assignment: ShadowAssignment,
  publicKey: string,
  app: string,
  slowBackend: boolean,
): Promise<LoadedShadow> {
  const manifest = await verifyManifest(assignment.manifest, publicKey, { app, purpose: 'shadow' });
  if (manifest.version !== assignment.version)
    throw new Error(`shadow manifest names version ${manifest.version}, the assignment ${assignment.version}`);
  const variant = chooseVariant(manifest, { slowBackend });
  const shards: Uint8Array[] = [];
  for (const shard of variant.shards) shards.push(await transport.getBlob(shard.hash));
  const bytes = concat(shards);
  await verifySha256(bytes, variant.sha256);
  const topology = parseTopology(await transport.getBlob(manifest.modelTopologyHash));
  const tensors = decodeTensors(bytes);
  const model = await modelFromParts({
    topology,
    weightSpecs: tensors.map((t) => ({ name: t.name, shape: t.shape })),
    weights: tensors.map((t) => t.data),
  });
  return { version: manifest.version, sampleRate: assignment.sampleRate, model };
}
