/**
 * The model manifest: which version of an app's model a device should run,
 * its variants (fp32 / fp16 / int8) and the content hashes of every shard,
 * plus the signed envelope it travels in and the public-key document.
 *
 * `generation` grows by one with every manifest the coordinator signs for an
 * app, including rollbacks (a rollback is a newer generation pointing at an
 * older version), so a client can refuse a replayed older manifest.
 */
import { z } from 'zod';
import {
  AppNameSchema,
  ByteCountSchema,
  IdSchema,
  ModelVersionNumberSchema,
  Sha256HexSchema,
  TimestampSchema,
  WeightEncodingSchema,
} from '../protocol/fields.ts';

/** One content-addressed weight file. */
export const ShardSchema = z.strictObject({
  hash: Sha256HexSchema,
  size: ByteCountSchema,
});
export type Shard = z.infer<typeof ShardSchema>;

/** One encoding of the model's weights; `sha256` is over the shards concatenated in order. */
export const ManifestVariantSchema = z
  .strictObject({
    encoding: WeightEncodingSchema,
    totalBytes: ByteCountSchema,
    sha256: Sha256HexSchema,
    shards: z.array(ShardSchema).min(1).max(1024),
  })
  .refine((v) => v.shards.reduce((sum, s) => sum + s.size, 0) === v.totalBytes, {
    message: 'totalBytes must equal the sum of the shard sizes',
    path: ['totalBytes'],
  });
export type ManifestVariant = z.infer<typeof ManifestVariantSchema>;

export const InputSpecSchema = z.strictObject({
  /** Input shape; null marks a free dimension (usually the batch). */
  shape: z.array(z.int().min(1).nullable()).min(1).max(8),
  dtype: z.enum(['float32', 'int32']),
});
export type InputSpec = z.infer<typeof InputSpecSchema>;

/**
 * A model manifest.
 *
 * @example
 * const manifest: Manifest = ManifestSchema.parse(json);
 * const int8 = manifest.variants.find((v) => v.encoding === 'int8');
 */
export const ManifestSchema = z.strictObject({
  protocolVersion: z.int().min(1),
  app: AppNameSchema,
  version: ModelVersionNumberSchema,
  generation: z.int().min(1),
  createdAt: TimestampSchema,
  /** SHA-256 of the model.json topology (without weightsManifest); also its blob address. */
  modelTopologyHash: Sha256HexSchema,
  inputSpec: InputSpecSchema,
  labels: z.array(z.string().max(256)).max(100_000).optional(),
  /**
   * The version's `flock-model.json` (preprocessing, output kind, frozen
   * layers), stored as a content-addressed blob of its canonical JSON. Signed
   * here, so a device refuses a spec whose bytes do not hash to this
   * (`verifyModelSpec`). Absent: raw feature vectors in, multiclass out.
   */
  modelSpec: ShardSchema.optional(),
  variants: z
    .array(ManifestVariantSchema)
    .min(1)
    .max(3)
    .refine((vs) => new Set(vs.map((v) => v.encoding)).size === vs.length, {
      message: 'each encoding may appear in at most one variant',
    }),
  /**
   * The role the manifest was issued for: 'model' (the app's active model;
   * the meaning when absent) or 'shadow' (run beside it on sampled
   * inferences, never activated). Signed like everything else, so a device
   * refuses a manifest offered in another role (`verifyManifest`'s `purpose`).
   * Shadow manifests count their own generations, apart from the app's.
   */
  purpose: z.enum(['model', 'shadow']).optional(),
  /**
   * Present when this manifest was served as part of a rollout (canary or
   * control) or a bandit (arm-N). `shadow: true` says the rollout runs a
   * shadow version: only then does a device ask `GET /v1/apps/:app/shadow`.
   */
  rollout: z
    .strictObject({ id: IdSchema, cohort: z.string().min(1).max(64).optional(), shadow: z.boolean().optional() })
    .optional(),
});
/** What a manifest may be installed as (see `Manifest.purpose`). */
export type ManifestPurpose = 'model' | 'shadow';
export type Manifest = z.infer<typeof ManifestSchema>;

/** Base64 (standard alphabet, padded). */
export const Base64Schema = z.base64();

/** A manifest with its detached Ed25519 signature. */
export const SignedManifestSchema = z.object({
  manifest: ManifestSchema,
  /** Ed25519 signature (64 bytes, base64) over `manifestSigningBytes(manifest)`. */
  signature: Base64Schema,
  keyId: z.string().min(1).max(64),
});
export type SignedManifest = z.infer<typeof SignedManifestSchema>;

/** `GET /v1/keys/manifest`: the key clients verify manifests with. */
export const ManifestPublicKeySchema = z.object({
  algorithm: z.literal('Ed25519'),
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKey: Base64Schema.refine((s) => s.length === 44, 'an Ed25519 public key is 32 bytes (44 base64 chars)'),
  keyId: z.string().min(1).max(64),
});
export type ManifestPublicKey = z.infer<typeof ManifestPublicKeySchema>;
