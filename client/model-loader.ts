/**
 * Getting a model onto the device and back out of IndexedDB.
 *
 * Delivery (`syncModel`): verify the signed manifest against the pinned or
 * trusted-on-first-use key and the newest generation seen, pick a variant,
 * download only the shards not already stored (each verified against its
 * SHA-256 before it is written), verify the whole variant's SHA-256, build
 * the model once to prove it loads, store the record and only then flip the
 * active pointer. Any failure leaves the previous version active.
 *
 * Update checks send the last manifest ETag (`If-None-Match`): a 304 costs
 * no body, no signature check and no store read. Before writing shards the
 * storage quota is checked (`checkQuota`), so a model that cannot fit is
 * refused up front instead of being half written.
 *
 * Variant policy (`chooseVariant`): int8 (4x smaller, per-channel affine, the
 * registry checks its accuracy on a holdout) on backends that are slow or
 * software anyway (wasm, cpu, software WebGPU/WebGL), fp32 on hardware GPUs
 * where download size matters less than exact weights. Falls back to what the
 * manifest offers, in the order fp16, fp32, int8.
 */
import type * as tf from '@tensorflow/tfjs';
import { decodeTensors } from '../shared/codec/index.ts';
import {
  ManifestError,
  verifyManifest,
  verifyModelSpec,
  verifySha256,
  type Manifest,
  type ManifestVariant,
} from '../shared/manifest/index.ts';
import { modelFromParts, type ModelTopology } from '../shared/model/index.ts';
import type { WeightEncoding } from '../shared/protocol/fields.ts';
import type { ModelSpec } from '../shared/protocol/model-spec.ts';
import type { FlockTransport } from './federated/transport.ts';
import type { ClientStore, StoredModel } from './storage/index.ts';
import { FlockError } from './flock-error.ts';

/** A model ready to run, with the record it was built from. */
export interface LoadedModel {
  model: tf.LayersModel;
  stored: StoredModel;
}

export interface SyncModelInput {
  transport: FlockTransport;
  store: ClientStore;
  app: string;
  /** Pinned base64 Ed25519 key; without it the first key seen is trusted and persisted. */
  publicKey?: string;
  /** Whether the chosen backend is slow/software (int8 is preferred then). */
  slowBackend: boolean;
  /** Force a variant encoding (when the manifest offers it). */
  variant?: WeightEncoding;
  /** ETag of the last manifest seen; sent as If-None-Match while a model is active. */
  etag?: string | null;
  /** Refuse (throw) when `neededBytes` of new shards cannot be stored; e.g. `checkStorageQuota`. */
  checkQuota?: (neededBytes: number, variant: ManifestVariant, manifest: Manifest) => Promise<unknown>;
}

/** `etag` is the manifest's, to send with the next check (null when the coordinator sent none). */
export type SyncResult =
  /** `manifest`: the verified manifest when one came back (not on a 304), e.g. to see `rollout.shadow`. */
  | { status: 'current'; version: number; etag: string | null; notModified: boolean; manifest?: Manifest }
  | { status: 'updated'; loaded: LoadedModel; previousVersion: number | null; etag: string | null };

/**
 * The variant to download.
 *
 * @example
 * chooseVariant(manifest, { slowBackend: true }).encoding // 'int8' when offered
 */
export function chooseVariant(
  manifest: Pick<Manifest, 'variants'>,
  options: { slowBackend: boolean; variant?: WeightEncoding },
): ManifestVariant {
  const order: WeightEncoding[] = options.variant
    ? [options.variant]
    : options.slowBackend
      ? ['int8', 'fp16', 'fp32']
      : ['fp32', 'fp16', 'int8'];
  for (const encoding of order) {
    const found = manifest.variants.find((v) => v.encoding === encoding);
    if (found) return found;
  }
  if (options.variant) {
    throw new FlockError(
      'no_variant',
      `the manifest offers ${manifest.variants.map((v) => v.encoding).join(', ')} but the variant option asks for '${options.variant}'; drop the option or publish that variant`,
    );
  }
  // Unreachable with a schema-valid manifest (at least one variant of the three encodings).
  throw new FlockError('no_variant', 'the manifest has no variant');
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The topology blob is canonical tfjs topology JSON; the registry may add its own `topologyHash` key, which tfjs must not see. */
export function parseTopology(bytes: Uint8Array): ModelTopology {
  const json = JSON.parse(new TextDecoder().decode(bytes)) as ModelTopology;
  const { topologyHash: _ignored, ...topology } = json;
  return topology;
}

async function buildFrom(stored: StoredModel, variantBytes: Uint8Array): Promise<tf.LayersModel> {
  const tensors = decodeTensors(variantBytes);
  return modelFromParts({
    topology: stored.topology,
    weightSpecs: tensors.map((t) => ({ name: t.name, shape: t.shape })),
    weights: tensors.map((t) => t.data),
  });
}

async function variantBytesFromStore(store: ClientStore, stored: StoredModel): Promise<Uint8Array> {
  const variant = stored.manifest.variants.find((v) => v.encoding === stored.encoding);
  if (!variant)
    throw new FlockError(
      'no_variant',
      `stored model ${stored.app}@${stored.version} lacks its ${stored.encoding} variant; clear site data to download again`,
    );
  const shards: Uint8Array[] = [];
  for (const shard of variant.shards) {
    const bytes = await store.getShard(shard.hash);
    if (!bytes)
      throw new FlockError(
        'no_model',
        `shard ${shard.hash} of ${stored.app}@${stored.version} is missing from the store`,
      );
    shards.push(bytes);
  }
  return concat(shards);
}

/**
 * Build the app's active model from the store alone (no network), or null when none is active.
 *
 * @example
 * const cached = await loadActiveModel(store, 'digits'); // works offline
 */
export async function loadActiveModel(store: ClientStore, app: string): Promise<LoadedModel | null> {
  const pointer = await store.getPointer(app);
  if (pointer.activeVersion === null) return null;
  const stored = await store.getModel(app, pointer.activeVersion);
  if (!stored) return null;
  return { stored, model: await buildFrom(stored, await variantBytesFromStore(store, stored)) };
}

async function trustedKey(input: SyncModelInput): Promise<{ key: string; pinned: boolean }> {
  if (input.publicKey) return { key: input.publicKey, pinned: true };
  const pointer = await input.store.getPointer(input.app);
  if (pointer.trustedPublicKey) return { key: pointer.trustedPublicKey, pinned: false };
  const { publicKey } = await input.transport.getPublicKey();
  const trust = await input.store.trustPublicKey(input.app, publicKey);
  return { key: trust.trustedPublicKey, pinned: false };
}

/** A signature failure may mean the coordinator's key changed: say so plainly instead of "bad signature". */
async function explainBadSignature(
  input: SyncModelInput,
  key: string,
  pinned: boolean,
  cause: ManifestError,
): Promise<Error> {
  let current: string | null = null;
  try {
    current = (await input.transport.getPublicKey()).publicKey;
  } catch {
    return cause;
  }
  if (current === key) return cause;
  return new FlockError(
    'trust_changed',
    `the coordinator now signs manifests with key ${current}, but this device trusts ${key} (${pinned ? 'pinned by the publicKey option' : 'trusted on first use'}); refusing its models and keeping the current one. If the key rotation is genuine, pin the new key with the publicKey option${pinned ? '' : ' or clear the site data'}.`,
    { cause },
  );
}

async function verifiedManifest(
  input: SyncModelInput,
): Promise<{ manifest: Manifest; etag: string | null } | { notModified: number; etag: string }> {
  const pointer = await input.store.getPointer(input.app);
  // Without an active model a 304 would leave nothing to run, so ask for the body.
  const etag = pointer.activeVersion !== null && input.etag ? input.etag : undefined;
  const answer = await input.transport.getManifest(input.app, { etag });
  if (answer.status === 'not_modified') {
    if (pointer.activeVersion === null)
      throw new FlockError('no_model', 'the coordinator answered 304 to a manifest request without an ETag');
    return { notModified: pointer.activeVersion, etag: answer.etag };
  }
  const { key, pinned } = await trustedKey(input);
  try {
    // purpose 'model': a shadow manifest, however validly signed, is never installed as the app's model.
    return {
      manifest: await verifyManifest(answer.signedManifest, key, {
        app: input.app,
        newestSeenGeneration: pointer.newestGeneration,
        purpose: 'model',
      }),
      etag: answer.etag,
    };
  } catch (error) {
    if (error instanceof ManifestError && error.code === 'bad_signature')
      throw await explainBadSignature(input, key, pinned, error);
    throw error;
  }
}

async function download(input: SyncModelInput, hash: string, what: string): Promise<Uint8Array> {
  try {
    return await input.transport.getBlob(hash);
  } catch (error) {
    if (error instanceof ManifestError && error.code === 'hash_mismatch') {
      throw new FlockError(
        'integrity',
        `${what} ${hash} arrived corrupted or tampered with (its SHA-256 does not match the signed manifest); it was not stored and the current model stays active`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** @throws FlockError 'integrity' when the spec's bytes do not match the manifest's signed hash or do not parse */
async function verifiedModelSpec(input: SyncModelInput, manifest: Manifest): Promise<ModelSpec> {
  const ref = manifest.modelSpec!;
  const bytes = await download(input, ref.hash, 'model spec');
  try {
    return await verifyModelSpec(bytes, ref);
  } catch (error) {
    throw new FlockError(
      'integrity',
      `the model spec of ${input.app}@${manifest.version} does not match its signed manifest (${(error as Error).message}); the version is refused and the current model stays active`,
      { cause: error },
    );
  }
}

/**
 * Bring the app's model up to the coordinator's signed manifest.
 * @throws FlockError ('trust_changed' | 'integrity' | 'no_variant'), ManifestError, FlockHttpError, ClientStoreError
 *
 * @example
 * const result = await syncModel({ transport, store, app: 'digits', slowBackend: true });
 * if (result.status === 'updated') predictorFor(result.loaded.model);
 */
export async function syncModel(input: SyncModelInput): Promise<SyncResult> {
  const { store, app } = input;
  const answer = await verifiedManifest(input);
  if ('notModified' in answer)
    return { status: 'current', version: answer.notModified, etag: answer.etag, notModified: true };
  const { manifest, etag } = answer;
  await store.noteGeneration(app, manifest.generation);
  const before = await store.getPointer(app);
  const variant = chooseVariant(manifest, input);
  const existing = await store.getModel(app, manifest.version);
  if (before.activeVersion === manifest.version && existing?.encoding === variant.encoding) {
    return { status: 'current', version: manifest.version, etag, notModified: false, manifest };
  }

  const hashes = variant.shards.map((s) => s.hash);
  const missing = await store.missingShards(hashes);
  const missingSet = new Set(missing);
  const neededBytes = variant.shards.filter((s) => missingSet.has(s.hash)).reduce((n, s) => n + s.size, 0);
  await input.checkQuota?.(neededBytes, variant, manifest);
  for (const hash of missing) {
    await store.putShard(hash, await download(input, hash, 'shard'));
  }
  const shards: Uint8Array[] = [];
  for (const hash of hashes) {
    const bytes = await store.getShard(hash);
    if (!bytes) throw new FlockError('no_model', `shard ${hash} vanished from the store during the download; retry`);
    shards.push(bytes);
  }
  const variantBytes = concat(shards);
  try {
    await verifySha256(variantBytes, variant.sha256);
  } catch (error) {
    throw new FlockError(
      'integrity',
      `the ${variant.encoding} variant of ${app}@${manifest.version} does not match its signed SHA-256 although every shard did; the current model stays active`,
      { cause: error },
    );
  }

  const sameTopology = (await store.listModels(app)).find(
    (m) => m.manifest.modelTopologyHash === manifest.modelTopologyHash,
  );
  const topology =
    sameTopology?.topology ?? parseTopology(await download(input, manifest.modelTopologyHash, 'model topology'));
  // The version's preprocessing and output meaning: refused, like a bad shard, unless it hashes to the signed reference.
  const modelSpec = manifest.modelSpec ? await verifiedModelSpec(input, manifest) : undefined;
  const tensors = decodeTensors(variantBytes);
  const stored: StoredModel = {
    app,
    version: manifest.version,
    manifest,
    encoding: variant.encoding,
    weightSpecs: tensors.map((t) => ({ name: t.name, shape: t.shape })),
    topology,
    inputSpec: manifest.inputSpec,
    ...(modelSpec ? { modelSpec } : {}),
    storedAt: Date.now(),
  };
  // Built before activation: a model tfjs cannot load must never become active.
  const model = await modelFromParts({
    topology,
    weightSpecs: stored.weightSpecs,
    weights: tensors.map((t) => t.data),
  });
  try {
    await store.putModel(stored);
    await store.activateVersion(app, manifest.version);
  } catch (error) {
    model.dispose();
    throw error;
  }
  await store.pruneVersions(app);
  return { status: 'updated', loaded: { model, stored }, previousVersion: before.activeVersion, etag };
}
