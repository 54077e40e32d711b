/**
 * A version's model spec (`flock-model.json`) as it travels: the canonical
 * JSON of the parsed spec, stored as a content-addressed blob whose SHA-256
 * and size the signed manifest carries (`Manifest.modelSpec`). The device
 * checks the bytes against the signed hash before it parses them, so a spec
 * the coordinator did not sign never reaches `predict` or training.
 */
import { ModelSpecSchema, type ModelSpec } from '../protocol/model-spec.ts';
import { canonicalJsonBytes } from './canonical-json.ts';
import { verifySha256 } from './hash.ts';
import { ManifestError } from './manifest-error.ts';
import type { Shard } from './schema.ts';

/**
 * The bytes a spec is stored and hashed as (canonical JSON, defaults filled in).
 *
 * @example
 * const blob = await store.blobs.put(modelSpecBytes(spec)); // blob.hash goes into the manifest
 */
export function modelSpecBytes(spec: ModelSpec): Uint8Array {
  return canonicalJsonBytes(ModelSpecSchema.parse(spec));
}

/**
 * Checks downloaded spec bytes against the manifest's signed reference and parses them.
 * @throws ManifestError 'hash_mismatch' when size or SHA-256 differ, 'bad_schema' when the bytes are no model spec
 *
 * @example
 * const spec = await verifyModelSpec(await fetchBlob(manifest.modelSpec.hash), manifest.modelSpec);
 */
export async function verifyModelSpec(bytes: Uint8Array, ref: Shard): Promise<ModelSpec> {
  if (bytes.byteLength !== ref.size) {
    throw new ManifestError(
      'hash_mismatch',
      `the model spec is ${bytes.byteLength} bytes but the signed manifest names ${ref.size}; the download is corrupt or tampered, fetch it again`,
      { expected: ref.size, actual: bytes.byteLength },
    );
  }
  await verifySha256(bytes, ref.hash);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new ManifestError('bad_schema', `the model spec is not UTF-8 JSON: ${(error as Error).message}`);
  }
  const parsed = ModelSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestError(
      'bad_schema',
      `the signed model spec does not parse (${issue?.path.join('.') || '(root)'}: ${issue?.message}); this SDK may be older than the coordinator`,
      parsed.error.issues,
    );
  }
  return parsed.data;
}
