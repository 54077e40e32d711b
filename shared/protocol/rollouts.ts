/**
 * What a rollout's latest evaluation stored (`lastVerdict` on the admin
 * rollout views): the canary verdict, the sample-ratio evidence, per metric
 * its test, samples, outcome and a sentence saying what it waits for or why
 * it failed, and the action the rollout took (wait, with its reason, advance,
 * promote, rollback, halt).
 *
 * The objects are loose: the analysis may add evidence fields (a test's
 * parameters, per-quantile results), and such fields pass through unchanged.
 * Numbers a test could not compute are null (JSON has no NaN).
 *
 * @example
 * const v = RolloutVerdictSchema.parse(view.lastVerdict);
 * if (v.action.kind === 'wait') console.log(v.action.reason); // "5 of 50 canary devices exposed"
 */
import { z } from 'zod';
import { TimestampSchema } from './fields.ts';

export const METRIC_OUTCOMES = ['pass', 'marginal', 'fail', 'insufficient'] as const;
export const MetricOutcomeSchema = z.enum(METRIC_OUTCOMES);
/** A metric's outcome, or 'srm': exposure does not match assignment, so no metric is trusted. */
export const CanaryVerdictNameSchema = z.enum([...METRIC_OUTCOMES, 'srm']);

const maybe = () => z.number().nullable();

/** One metric's evidence: canary against control. */
export const MetricEvidenceSchema = z.looseObject({
  /** 'accuracy' | 'errorRate' | 'latency' | 'confidence' | 'drift' | 'absoluteError' (regression). */
  metric: z.string(),
  outcome: MetricOutcomeSchema,
  /** The test run, e.g. 'msprt-two-proportions', 'msprt-quantile' (always-valid, coordinator/rollouts/sequential-test.ts), 'psi'. */
  test: z.string(),
  canary: maybe(),
  control: maybe(),
  /** Harm in the metric's threshold units: positive = canary worse. */
  harm: maybe(),
  /** One-sided p-value for "canary is worse", valid at every look (the analysis re-tests every few seconds). */
  pValue: maybe(),
  /** Samples per cohort behind the metric (outcomes, predictions, latency samples, ...). */
  samples: z.object({ canary: z.number(), control: z.number() }),
  threshold: z.number(),
  /** What the metric waits for ("needs 100 per cohort, has 20 canary / 300 control") or what it found. */
  detail: z.string().describe('what the metric waits for, or what it found'),
});
export type MetricEvidence = z.infer<typeof MetricEvidenceSchema>;

/** Sample-ratio check: exposed devices per cohort against the stage's assignment. */
export const SrmEvidenceSchema = z.looseObject({
  canaryExposed: z.int().min(0),
  controlExposed: z.int().min(0),
  expectedCanaryShare: z.number(),
  observedCanaryShare: maybe(),
  pValue: maybe(),
  mismatch: z.boolean(),
});
export type SrmEvidence = z.infer<typeof SrmEvidenceSchema>;

/** What the evaluation did next. */
export const RolloutActionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('wait'), reason: z.string() }),
  z.object({ kind: z.literal('advance'), toStageIndex: z.int().min(0) }),
  z.object({ kind: z.literal('promote') }),
  z.object({ kind: z.literal('rollback'), reason: z.string() }),
  z.object({ kind: z.literal('halt'), reason: z.string() }),
]);
export type RolloutAction = z.infer<typeof RolloutActionSchema>;

/** A rollout's latest evaluation, as stored and served in `lastVerdict`. */
export const RolloutVerdictSchema = z
  .looseObject({
    at: TimestampSchema,
    /** The stage evaluated (0-based) and its canary percentage. */
    stageIndex: z.int().min(0),
    percent: z.number(),
    verdict: CanaryVerdictNameSchema,
    /** Null when too few devices were exposed for the check, or at a 100% stage. */
    srm: SrmEvidenceSchema.nullable(),
    metrics: z.array(MetricEvidenceSchema),
    /** Why the verdict is what it is: failed, marginal and missing required metrics, or the mismatch. */
    reasons: z.array(z.string()),
    action: RolloutActionSchema.describe(
      'what the evaluation did: wait (with the reason, e.g. "5 of 50 canary devices exposed"), advance, promote, rollback or halt',
    ),
  })
  .describe("a rollout's latest evaluation: verdict, sample-ratio and per-metric evidence, and the action taken");
export type RolloutVerdict = z.infer<typeof RolloutVerdictSchema>;

/** A rollout's shadow: a version run on a sampled share of inferences next to production, never shown. */
export const ShadowConfigSchema = z.strictObject({
  version: z.int().min(1),
  /** Share of inferences also run on the shadow, in (0, 1]. */
  sampleRate: z.number().gt(0).max(1),
});
export type ShadowConfig = z.infer<typeof ShadowConfigSchema>;

/** One rollout, as the admin rollout routes answer it (and the CLI and dashboard read it). */
export const RolloutViewSchema = z.object({
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
  /** The latest evaluation: verdict, sample-ratio and per-metric evidence, and the action taken. */
  lastVerdict: RolloutVerdictSchema.nullable(),
  reason: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  endedAt: z.string().nullable(),
  shadow: ShadowConfigSchema.nullable().optional(),
});
export type RolloutView = z.infer<typeof RolloutViewSchema>;
