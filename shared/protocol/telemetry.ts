/**
 * Client telemetry (`POST /v1/telemetry`): compact, pre-aggregated summaries
 * a rollout can compare between canary and control, and drift statistics.
 *
 * Clients summarize locally (a window of predictions becomes one event), so a
 * batch stays small; every array is bounded so one batch cannot exhaust the
 * coordinator. Raw inputs never leave the device: features travel only as
 * moments and histograms.
 */
import { z } from 'zod';
import {
  AppNameSchema,
  BackendNameSchema,
  IdSchema,
  ModelVersionNumberSchema,
  TimestampSchema,
  WeightEncodingSchema,
} from './fields.ts';

/** Most events in one batch. */
export const TELEMETRY_MAX_EVENTS = 500;
/** Most raw latency samples in one 'latency' event (the SDK sends a reservoir of at most 64 per flush). */
export const LATENCY_MAX_SAMPLES = 256;

const count = () => z.int().min(0);
const at = TimestampSchema;

/** Bins over [min, max) of equal width; the last bin includes max. */
export const HistogramSchema = z
  .object({
    min: z.number(),
    max: z.number(),
    counts: z.array(count()).min(1).max(256),
  })
  .refine((h) => h.max > h.min, { message: 'histogram max must exceed min', path: ['max'] });
export type Histogram = z.infer<typeof HistogramSchema>;

/** Inference latency over a window: a summary plus an optional bounded sample for rank tests. */
export const LatencyEventSchema = z.object({
  type: z.literal('latency'),
  at,
  backend: BackendNameSchema,
  count: z.int().min(1),
  meanMs: z.number().min(0),
  p50Ms: z.number().min(0),
  p95Ms: z.number().min(0),
  p99Ms: z.number().min(0),
  maxMs: z.number().min(0),
  /**
   * Up to 256 raw samples (a uniform reservoir of the window's uncached
   * predictions), for Mann-Whitney U between canary and control; the
   * coordinator keeps at most 64 per device and stage.
   */
  samplesMs: z.array(z.number().min(0).max(3_600_000)).max(LATENCY_MAX_SAMPLES).optional(),
});

/** Histogram of top-1 confidence over [0, 1]. */
export const ConfidenceEventSchema = z.object({
  type: z.literal('confidence'),
  at,
  histogram: HistogramSchema,
});

const labelCounts = () =>
  z
    .record(z.string().max(128), count())
    .refine((r) => Object.keys(r).length <= 1000, { message: 'at most 1000 labels per event' });

/** How often each label was predicted. */
export const PredictionsEventSchema = z.object({
  type: z.literal('predictions'),
  at,
  counts: labelCounts(),
});

/** Outcomes of predictions the app later learned the truth for (via `record`). */
export const FeedbackEventSchema = z.object({
  type: z.literal('feedback'),
  at,
  correct: count(),
  incorrect: count(),
  /** Regression models: |prediction - recorded target| of recorded examples (a bounded sample). */
  absoluteErrors: z.array(z.number().min(0).max(1e12)).max(LATENCY_MAX_SAMPLES).optional(),
});

/** The device loaded and activated a model (on connect, reload or a new version); like any event, it counts as exposure. */
export const ModelLoadedEventSchema = z.object({
  type: z.literal('model-loaded'),
  at,
  version: ModelVersionNumberSchema,
  generation: z.int().min(1),
  encoding: WeightEncodingSchema,
  backend: BackendNameSchema,
  fromCache: z.boolean(),
  loadMs: z.number().min(0).optional(),
});

/**
 * A model is still active on this device: sent with a flush that has nothing
 * else to say once `heartbeatMs` (default 5 min) have passed since the last
 * batch. With every other event of the batch it counts the device as exposed
 * to the batch's `modelVersion` in the current rollout stage, so a page that
 * stays open across a stage is counted without loading the model again.
 */
export const HeartbeatEventSchema = z.object({
  type: z.literal('heartbeat'),
  at,
  /** Manifest generation of the active model. */
  generation: z.int().min(1),
  backend: BackendNameSchema,
});

/** Errors by where they happened, e.g. a failed prediction or a lost WebGPU device. */
export const ErrorEventSchema = z.object({
  type: z.literal('error'),
  at,
  where: z.enum(['load', 'predict', 'train', 'upload']),
  code: z.string().min(1).max(64),
  count: z.int().min(1),
});

/** Per-feature moments and histograms of model inputs, for drift (PSI) against a reference. */
export const FeatureSummaryEventSchema = z.object({
  type: z.literal('feature-summary'),
  at,
  count: z.int().min(1),
  features: z
    .array(
      z.object({
        name: z.string().min(1).max(128),
        mean: z.number(),
        variance: z.number().min(0),
        histogram: HistogramSchema.optional(),
      }),
    )
    .min(1)
    .max(256),
});

/**
 * Shadow mode: a window of inferences also run on a shadow version, whose
 * predictions were compared with production's and never shown. Sent under the
 * batch's `modelVersion` (production); `shadowVersion` names the shadow.
 */
export const ShadowEventSchema = z
  .object({
    type: z.literal('shadow'),
    at,
    shadowVersion: ModelVersionNumberSchema,
    /** Inferences compared in this window. */
    count: z.int().min(1),
    /** Of those, how many had the same top-1 label in both versions. */
    agreed: count(),
    productionMeanMs: z.number().min(0),
    shadowMeanMs: z.number().min(0),
  })
  .refine((e) => e.agreed <= e.count, { message: 'agreed cannot exceed count', path: ['agreed'] });

export const TelemetryEventSchema = z.discriminatedUnion('type', [
  LatencyEventSchema,
  ConfidenceEventSchema,
  PredictionsEventSchema,
  FeedbackEventSchema,
  ModelLoadedEventSchema,
  HeartbeatEventSchema,
  ErrorEventSchema,
  FeatureSummaryEventSchema,
  ShadowEventSchema,
]);
export type TelemetryEvent = z.infer<typeof TelemetryEventSchema>;
export type TelemetryEventType = TelemetryEvent['type'];

/**
 * `POST /v1/telemetry` body: events about one model version (`modelVersion`) on one device.
 *
 * @example
 * const batch: TelemetryBatch = { deviceId, app: 'digits', modelVersion: 4,
 *   events: [{ type: 'feedback', at: new Date().toISOString(), correct: 41, incorrect: 3 }] };
 */
export const TelemetryBatchSchema = z.object({
  deviceId: IdSchema,
  app: AppNameSchema,
  modelVersion: ModelVersionNumberSchema,
  /**
   * The rollout named by the device's manifest: informational, the
   * coordinator does not read it. Canary and control are told apart by the
   * device's cohort (a stable hash of rollout id and device id, the same one
   * that chose the manifest it was served) together with `modelVersion`: a
   * batch counts toward a cohort only when `modelVersion` is the version
   * that cohort is served.
   */
  rolloutId: IdSchema.optional(),
  events: z.array(TelemetryEventSchema).min(1).max(TELEMETRY_MAX_EVENTS),
});
export type TelemetryBatch = z.infer<typeof TelemetryBatchSchema>;

export const TelemetryReceiptSchema = z.object({ accepted: count() });
export type TelemetryReceipt = z.infer<typeof TelemetryReceiptSchema>;
