/**
 * Model update upload. The body is the codec-encoded delta
 * (`application/octet-stream`); its metadata travels as JSON in the
 * `flock-update-meta` header so the body can stream straight to storage.
 */
import { z } from 'zod';
import { BackendNameSchema, IdSchema, TimestampSchema, UpdateEncodingNameSchema } from './fields.ts';

/** Name of the header carrying the JSON `UpdateMeta`. */
export const UPDATE_META_HEADER = 'flock-update-meta';

/** Largest header value accepted; HTTP servers commonly cap a header near 8 KiB. */
export const UPDATE_META_MAX_CHARS = 4096;

export const UpdateMetaSchema = z.object({
  roundId: IdSchema,
  deviceId: IdSchema,
  /**
   * Examples trained on. FedAvg weights the update by min(this, the count
   * declared at check-in, plan.maxExamplesPerDevice): a larger claim is not
   * refused, it counts for no more (the device may have recorded examples
   * between check-in and training).
   */
  numExamples: z.int().min(1),
  /** Global L2 norm of the delta before clipping (for adaptive clipping and monitoring). */
  preClipNorm: z.number().min(0),
  trainLoss: z.number().optional(),
  trainAccuracy: z.number().min(0).max(1).optional(),
  epochs: z.int().min(1),
  encoding: UpdateEncodingNameSchema,
  backend: BackendNameSchema.optional(),
  durationMs: z.number().min(0).optional(),
});
export type UpdateMeta = z.infer<typeof UpdateMetaSchema>;

/** Answer to an upload; a replay of an accepted upload gets the first receipt with `duplicate: true`. */
export const UpdateReceiptSchema = z.object({
  roundId: IdSchema,
  deviceId: IdSchema,
  accepted: z.literal(true),
  duplicate: z.boolean(),
  receivedAt: TimestampSchema,
});
export type UpdateReceipt = z.infer<typeof UpdateReceiptSchema>;

/**
 * Serializes update metadata for the `flock-update-meta` header.
 *
 * @example
 * fetch(url, { method: 'POST', body: bytes, headers: { [UPDATE_META_HEADER]: encodeUpdateMeta(meta) } });
 */
export function encodeUpdateMeta(meta: UpdateMeta): string {
  return JSON.stringify(UpdateMetaSchema.parse(meta));
}
