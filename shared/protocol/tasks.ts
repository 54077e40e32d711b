/**
 * Training tasks and rounds: the admin's task creation and views, and the
 * device's check-in, answered either with a round invitation or a retry-after.
 */
import { z } from 'zod';
import {
  AppNameSchema,
  BackendNameSchema,
  ByteCountSchema,
  IdSchema,
  ModelVersionNumberSchema,
  RuntimeSchema,
  Sha256HexSchema,
  TimestampSchema,
  WeightEncodingSchema,
} from './fields.ts';
import { TaskPlanSchema } from './plan.ts';
import { SecAggRoundStatsSchema, SignedSecAggRoundConfigSchema } from './secure-aggregation-round.ts';

/**
 * `POST /v1/tasks` (admin) body.
 *
 * @example
 * TaskCreateSchema.parse({ app: 'digits', modelVersion: 3, plan: { population: 500 } });
 */
export const TaskCreateSchema = z.strictObject({
  app: AppNameSchema,
  /** The registry version training starts from. */
  modelVersion: ModelVersionNumberSchema,
  plan: TaskPlanSchema,
  name: z.string().min(1).max(128).optional(),
});
export type TaskCreate = z.output<typeof TaskCreateSchema>;
export type TaskCreateInput = z.input<typeof TaskCreateSchema>;

export const TaskStatusSchema = z.enum(['active', 'paused', 'completed', 'budget_exhausted', 'failed']);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;

export const RoundStateSchema = z.enum(['open', 'aggregating', 'closed', 'failed']);
export type RoundState = z.infer<typeof RoundStateSchema>;

/** A round as the admin API and dashboard show it. */
export const RoundViewSchema = z.object({
  id: IdSchema,
  taskId: IdSchema,
  roundNumber: z.int().min(1),
  state: RoundStateSchema,
  /** Registry version the round trains from. */
  globalVersion: ModelVersionNumberSchema,
  openedAt: TimestampSchema,
  deadlineAt: TimestampSchema,
  closedAt: TimestampSchema.nullable(),
  selected: z.int().min(0),
  reports: z.int().min(0),
  /** Version registered from this round, once closed. */
  resultVersion: ModelVersionNumberSchema.nullable(),
  /** Why a failed round failed, e.g. "3 of 8 required reports by the deadline". */
  failureReason: z.string().nullable(),
  /** Secure-aggregation rounds: devices per phase, abort reason, epsilon charged. */
  secureAggregation: SecAggRoundStatsSchema.nullable().optional(),
});
export type RoundView = z.infer<typeof RoundViewSchema>;

/** A task as the admin API shows it. */
export const TaskViewSchema = z.object({
  id: IdSchema,
  app: AppNameSchema,
  name: z.string().nullable(),
  modelVersion: ModelVersionNumberSchema,
  plan: TaskPlanSchema,
  status: TaskStatusSchema,
  createdAt: TimestampSchema,
  roundsCompleted: z.int().min(0),
  currentRound: RoundViewSchema.nullable(),
  /** Privacy spent so far, at the plan's delta; null without central DP. */
  privacySpent: z.object({ epsilon: z.number().min(0), delta: z.number().gt(0).lt(1) }).nullable(),
});
export type TaskView = z.output<typeof TaskViewSchema>;

/**
 * `POST /v1/tasks/:taskId/check-in` body.
 *
 * @example
 * const body: CheckInRequest = { deviceId, taskId, numExamples: 240, backend: 'wasm' };
 */
export const CheckInRequestSchema = z.object({
  deviceId: IdSchema,
  taskId: IdSchema,
  /**
   * Labelled examples the device holds now. Below the plan's minExamples it is
   * told 'not_eligible'; otherwise the coordinator keeps min(this,
   * plan.maxExamplesPerDevice) with its selection, and never weights the
   * device's update in this round by more.
   */
  numExamples: z.int().min(0),
  runtime: RuntimeSchema.optional(),
  /** Backend the device would train on. */
  backend: BackendNameSchema.optional(),
});
export type CheckInRequest = z.infer<typeof CheckInRequestSchema>;

/** Reference to a round's starting weights, fetched from `/v1/blobs/:hash`. */
export const GlobalWeightsRefSchema = z.object({
  hash: Sha256HexSchema,
  size: ByteCountSchema,
  encoding: WeightEncodingSchema,
});
export type GlobalWeightsRef = z.infer<typeof GlobalWeightsRefSchema>;

export const CheckInSelectedSchema = z.object({
  status: z.literal('selected'),
  roundId: IdSchema,
  taskId: IdSchema,
  roundNumber: z.int().min(1),
  plan: TaskPlanSchema,
  globalVersion: ModelVersionNumberSchema,
  globalWeights: GlobalWeightsRefSchema,
  /** Blob address of the round model's tfjs topology JSON (the model the plan trains). */
  modelTopologyHash: Sha256HexSchema.optional(),
  /** Uploads after this instant are refused with 'late_upload'. */
  deadlineAt: TimestampSchema,
  /** Present when the task runs secure aggregation: the signed round configuration (secure-aggregation-round.ts). */
  secureAggregation: SignedSecAggRoundConfigSchema.optional(),
});
export type CheckInSelected = z.output<typeof CheckInSelectedSchema>;

export const RetryReasonSchema = z.enum([
  'round_full',
  'no_open_round',
  'not_eligible',
  'budget_exhausted',
  'task_paused',
]);
export type RetryReason = z.infer<typeof RetryReasonSchema>;

export const CheckInRetrySchema = z.object({
  status: z.literal('retry'),
  /** Already jittered by the coordinator so devices do not return as a herd. */
  retryAfterSeconds: z
    .number()
    .min(0)
    .max(7 * 24 * 3600),
  reason: RetryReasonSchema,
});
export type CheckInRetry = z.infer<typeof CheckInRetrySchema>;

/**
 * Check-in answer, discriminated on `status`.
 *
 * @example
 * const r = CheckInResponseSchema.parse(await res.json());
 * if (r.status === 'selected') await train(r.plan, r.globalWeights); else sleep(r.retryAfterSeconds);
 */
export const CheckInResponseSchema = z.discriminatedUnion('status', [CheckInSelectedSchema, CheckInRetrySchema]);
export type CheckInResponse = z.output<typeof CheckInResponseSchema>;
