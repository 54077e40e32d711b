/**
 * The coordinator's answers the CLI reads whose schemas live beside their
 * routes (GET /healthz in coordinator/routes/public.ts, rollouts in
 * coordinator/routes/admin-rollouts.ts). Importing those would load the whole
 * coordinator (its store, tfjs) into `flock status` and `flock rollout`, so
 * the CLI keeps the same wire shapes here, with zod alone; answer-schemas.test.ts
 * holds them to the routes' own schemas field by field.
 */
import { z } from 'zod';
import { RolloutVerdictSchema } from '../shared/protocol/rollouts.ts';

/** What `GET /healthz` answers. */
export const HealthAnswerSchema = z.object({
  status: z.literal('ok'),
  version: z.string(),
  protocolVersion: z.number(),
  aggregationBackend: z.string().nullable(),
  aggregationDevice: z.string().nullable().optional(),
  store: z.string(),
});
export type HealthAnswer = z.output<typeof HealthAnswerSchema>;

/** One rollout, as the admin rollout routes answer it. */
export const RolloutAnswerSchema = z.object({
  id: z.string(),
  app: z.string(),
  candidateVersion: z.int(),
  controlVersion: z.int(),
  status: z.enum(['running', 'paused', 'halted', 'completed', 'rolled_back', 'aborted']),
  stages: z.array(z.number()),
  stageIndex: z.int(),
  canaryPercent: z.number(),
  stageStartedAt: z.string(),
  minStageSeconds: z.number(),
  minSamples: z.int(),
  metrics: z.record(z.string(), z.unknown()),
  canaryGeneration: z.int().nullable(),
  controlGeneration: z.int().nullable(),
  lastVerdict: RolloutVerdictSchema.nullable(),
  reason: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  endedAt: z.string().nullable(),
  shadow: z.object({ version: z.int(), sampleRate: z.number() }).nullable().optional(),
});
export type RolloutAnswer = z.output<typeof RolloutAnswerSchema>;
