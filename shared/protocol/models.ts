/**
 * Model registry views: a version with its lineage and variants, and the
 * audited stage transition request.
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
} from './fields.ts';

export const MODEL_STAGES = ['candidate', 'canary', 'production', 'archived'] as const;
export const ModelStageSchema = z.enum(MODEL_STAGES);
export type ModelStage = z.infer<typeof ModelStageSchema>;

export const ModelVariantViewSchema = z.object({
  encoding: WeightEncodingSchema,
  totalBytes: ByteCountSchema,
  sha256: Sha256HexSchema,
  /** Accuracy on the holdout when one was given at push time, else null. */
  holdoutAccuracy: z.number().min(0).max(1).nullable(),
});
export type ModelVariantView = z.infer<typeof ModelVariantViewSchema>;

/**
 * One immutable registry version. Fields from training (`roundId`, `clients`,
 * `clipNorm`, `noiseMultiplier`, `epsilon`) are null for pushed versions.
 *
 * @example
 * const v = ModelVersionViewSchema.parse(await res.json());
 * if (v.source === 'round') console.log(`round ${v.roundId}: ${v.clients} clients, eps=${v.epsilon}`);
 */
export const ModelVersionViewSchema = z.object({
  app: AppNameSchema,
  version: ModelVersionNumberSchema,
  parentVersion: ModelVersionNumberSchema.nullable(),
  createdAt: TimestampSchema,
  source: z.enum(['push', 'round']),
  roundId: IdSchema.nullable(),
  clients: z.int().min(0).nullable(),
  clipNorm: z.number().positive().nullable(),
  noiseMultiplier: z.number().min(0).nullable(),
  /** Cumulative epsilon of the producing task after this round. */
  epsilon: z.number().min(0).nullable(),
  metrics: z.record(z.string().max(128), z.number()),
  stage: ModelStageSchema,
  variants: z.array(ModelVariantViewSchema),
});
export type ModelVersionView = z.infer<typeof ModelVersionViewSchema>;

export const ModelVersionListSchema = z.object({ versions: z.array(ModelVersionViewSchema) });
export type ModelVersionList = z.infer<typeof ModelVersionListSchema>;

/**
 * `POST /v1/apps/:app/models/:version/stage` (admin) body.
 *
 * @example
 * StageTransitionSchema.parse({ stage: 'production', reason: 'canary beat control on accuracy, p=0.003' });
 */
export const StageTransitionSchema = z.strictObject({
  stage: ModelStageSchema,
  reason: z.string().max(1000).optional(),
});
export type StageTransition = z.infer<typeof StageTransitionSchema>;
