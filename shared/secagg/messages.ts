/**
 * The wire messages of one secure-aggregation round, as zod schemas with
 * their inferred types. The four phases of Bonawitz et al.:
 *
 *   device -> coordinator   AdvertiseKeys        two X25519 public keys
 *   coordinator -> devices  Roster               every advertised key + (k, t, c)
 *   device -> coordinator   ShareKeys            AES-GCM ciphertexts, one per neighbour
 *   coordinator -> device   ForwardedShares      the ciphertexts addressed to it
 *   device -> coordinator   MaskedInput          header; the vector travels as binary
 *   coordinator -> devices  UnmaskRequest        who survived, who dropped
 *   device -> coordinator   UnmaskResponse       self-mask seed shares of survivors,
 *                                                masking-key shares of the dropped
 *
 * Not yet part of shared/protocol: the coordinator does not route them yet.
 */
import { z } from 'zod';
import { IdSchema } from '../protocol/fields.ts';

const Base64Schema = z
  .string()
  .max(1 << 16)
  .regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'expected standard padded base64');

/** 32 bytes of X25519 public key, base64 (44 characters). */
const PublicKeySchema = Base64Schema.length(44);

export const AdvertiseKeysSchema = z.strictObject({
  type: z.literal('secagg.advertise-keys'),
  roundId: IdSchema,
  deviceId: IdSchema,
  channelPublicKey: PublicKeySchema,
  maskingPublicKey: PublicKeySchema,
});
export type AdvertiseKeys = z.infer<typeof AdvertiseKeysSchema>;

export const SecAggParametersSchema = z.strictObject({
  neighbours: z.int().min(2).max(255),
  threshold: z.int().min(2).max(255),
  colluders: z.int().min(0),
});

export const RosterSchema = z.strictObject({
  type: z.literal('secagg.roster'),
  roundId: IdSchema,
  /** Length of every input vector (uint32 words). */
  vectorLength: z
    .int()
    .min(1)
    .max(1 << 28),
  parameters: SecAggParametersSchema,
  devices: z
    .array(AdvertiseKeysSchema.omit({ type: true, roundId: true }))
    .min(3)
    .max(100_000),
});
export type Roster = z.infer<typeof RosterSchema>;

const AddressedCiphertextSchema = z.strictObject({ to: IdSchema, ciphertext: Base64Schema });

export const ShareKeysSchema = z.strictObject({
  type: z.literal('secagg.share-keys'),
  roundId: IdSchema,
  deviceId: IdSchema,
  ciphertexts: z.array(AddressedCiphertextSchema).max(255),
});
export type ShareKeys = z.infer<typeof ShareKeysSchema>;

export const ForwardedSharesSchema = z.strictObject({
  type: z.literal('secagg.forwarded-shares'),
  roundId: IdSchema,
  deviceId: IdSchema,
  ciphertexts: z.array(z.strictObject({ from: IdSchema, ciphertext: Base64Schema })).max(255),
});
export type ForwardedShares = z.infer<typeof ForwardedSharesSchema>;

/** Header of a masked input; the vector (vectorLength little-endian uint32) is the binary body. */
export const MaskedInputSchema = z.strictObject({
  type: z.literal('secagg.masked-input'),
  roundId: IdSchema,
  deviceId: IdSchema,
  vectorLength: z.int().min(1),
});
export type MaskedInput = z.infer<typeof MaskedInputSchema>;

export const UnmaskRequestSchema = z.strictObject({
  type: z.literal('secagg.unmask-request'),
  roundId: IdSchema,
  /** Sent a masked input: reveal their self-mask seed shares. */
  survivors: z.array(IdSchema).max(100_000),
  /** Shared keys but sent no masked input: reveal their masking-key shares. */
  dropped: z.array(IdSchema).max(100_000),
});
export type UnmaskRequest = z.infer<typeof UnmaskRequestSchema>;

const ShareOfSchema = z.strictObject({ of: IdSchema, share: Base64Schema });

export const UnmaskResponseSchema = z.strictObject({
  type: z.literal('secagg.unmask-response'),
  roundId: IdSchema,
  deviceId: IdSchema,
  selfMaskSeedShares: z.array(ShareOfSchema).max(255),
  maskingKeyShares: z.array(ShareOfSchema).max(255),
});
export type UnmaskResponse = z.infer<typeof UnmaskResponseSchema>;
