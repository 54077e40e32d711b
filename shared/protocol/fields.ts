/**
 * Field schemas every Flock message is built from: the protocol version, ids,
 * app names, content hashes, timestamps and encodings.
 *
 * Ids and app names are restricted to URL- and header-safe ASCII because they
 * travel in paths (`/v1/apps/:app/manifest`) and in the JSON header
 * `flock-update-meta`, whose value must be ISO-8859-1.
 */
import { z } from 'zod';

/**
 * Version of the wire protocol spoken under `/v1`. Bumped on any change an
 * older peer could misread.
 *
 * @example
 * if (registered.protocolVersion !== PROTOCOL_VERSION) throw new Error('update the SDK');
 */
export const PROTOCOL_VERSION = 1;

/** An opaque id minted by the coordinator (device, task, round, rollout). */
export const IdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'ids use only letters, digits and _ . : -');

/** An app name as it appears in URLs: lowercase, digits and dashes, 1-63 chars. */
export const AppNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    'app names are 1-63 chars of lowercase letters, digits and dashes, starting with a letter or digit',
  );

/** A model version number in an app's registry (1, 2, 3, ...). */
export const ModelVersionNumberSchema = z.int().min(1);

/** SHA-256 as 64 lowercase hex digits; lowercase only so equal hashes compare equal as strings. */
export const Sha256HexSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'expected a SHA-256 digest as 64 lowercase hex digits');

/** A UTC timestamp as produced by `Date.prototype.toISOString()`. */
export const TimestampSchema = z.iso.datetime();

/** A byte count. */
export const ByteCountSchema = z.int().min(0);

/** How a full set of model weights is stored (a manifest variant, a round's global weights). */
export const WeightEncodingSchema = z.enum(['fp32', 'fp16', 'int8']);
export type WeightEncoding = z.infer<typeof WeightEncodingSchema>;

/** How a model update (delta) is encoded for upload: a weight encoding or top-k sparse. */
export const UpdateEncodingNameSchema = z.enum(['fp32', 'fp16', 'int8', 'topk']);
export type UpdateEncodingName = z.infer<typeof UpdateEncodingNameSchema>;

/** The tfjs backend a client runs on. Free-form beyond the four known ones (e.g. 'tensorflow' in Node). */
export const BackendNameSchema = z.string().min(1).max(32);

/** Where the client SDK runs. */
export const RuntimeSchema = z.enum(['browser', 'worker', 'service-worker', 'node']);
export type Runtime = z.infer<typeof RuntimeSchema>;
