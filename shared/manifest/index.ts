/**
 * Model manifests: the schema, canonical serialization, SHA-256 content
 * hashes and Ed25519 signatures, all on WebCrypto so the coordinator, pages
 * and workers share one implementation.
 *
 * @example
 * // coordinator
 * const keys = await generateSigningKeyPair();
 * const signed = await signManifest(manifest, keys.privateKey, await keyIdOf(keys.publicKey));
 * // client, with the pinned key from GET /v1/keys/manifest
 * const trusted = await verifyManifest(signed, pinnedPublicKey, { app: 'digits', newestSeenGeneration });
 * await verifySha256(shardBytes, trusted.variants[0].shards[0].hash);
 */
export {
  ManifestSchema,
  ManifestVariantSchema,
  ShardSchema,
  InputSpecSchema,
  SignedManifestSchema,
  ManifestPublicKeySchema,
  Base64Schema,
} from './schema.ts';
export type {
  Manifest,
  ManifestPurpose,
  ManifestVariant,
  Shard,
  InputSpec,
  SignedManifest,
  ManifestPublicKey,
} from './schema.ts';
export { ManifestError } from './manifest-error.ts';
export type { ManifestErrorCode } from './manifest-error.ts';
export { canonicalJson, canonicalJsonBytes, CanonicalJsonError } from './canonical-json.ts';
export { sha256Hex, verifySha256 } from './hash.ts';
export { bytesToBase64, base64ToBytes } from './bytes.ts';
export {
  generateSigningKeyPair,
  exportPublicKey,
  importPublicKey,
  exportPrivateKey,
  importPrivateKey,
  keyIdOf,
  exportKeyPair,
  importKeyPair,
  manifestSigningBytes,
  signManifest,
  verifyManifest,
  checkGeneration,
  purposeOf,
} from './signing.ts';
export type { StoredSigningKey, VerifyManifestOptions } from './signing.ts';
export { modelSpecBytes, verifyModelSpec } from './model-spec-blob.ts';
