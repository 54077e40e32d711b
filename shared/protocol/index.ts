/**
 * The Flock wire protocol: zod schemas, their inferred types and runtime
 * checks for every message between clients and the coordinator under `/v1`.
 *
 * Naming: `FooSchema` is the zod schema, `Foo` the parsed type; where defaults
 * make input and output differ, `FooInput` is what a sender may write.
 *
 * @example
 * import { parseMessage, RegisterRequestSchema, ERROR_STATUS } from 'flock/shared/protocol';
 * const r = parseMessage(RegisterRequestSchema, body);
 * if (!r.ok) return c.json(r.error, ERROR_STATUS[r.error.error.code]);
 */
export {
  PROTOCOL_VERSION,
  IdSchema,
  AppNameSchema,
  ModelVersionNumberSchema,
  Sha256HexSchema,
  TimestampSchema,
  ByteCountSchema,
  WeightEncodingSchema,
  UpdateEncodingNameSchema,
  BackendNameSchema,
  RuntimeSchema,
} from './fields.ts';
export type { WeightEncoding, UpdateEncodingName, Runtime } from './fields.ts';

export { ERROR_CODES, ERROR_STATUS, ErrorCodeSchema, ErrorBodySchema, errorBody, isErrorBody } from './errors.ts';
export type { ErrorCode, ErrorBody } from './errors.ts';

export { parseMessage, parseUpdateMetaHeader, validationErrorBody } from './parse.ts';
export type { ParseResult, ValidationIssue } from './parse.ts';

export {
  PlatformSchema,
  CapabilitiesSchema,
  RegisterRequestSchema,
  RegisterResponseSchema,
} from './devices.ts';
export type { Platform, Capabilities, RegisterRequest, RegisterResponse } from './devices.ts';

export {
  TaskPlanSchema,
  UpdateEncodingSchema,
  StrategySchema,
  AdaptiveClippingSchema,
  PrivacyBudgetSchema,
  EvaluationSchema,
} from './plan.ts';
export {
  STRATEGIES,
  STRATEGY_NAMES,
  STRATEGY_DEFAULTS,
  strategyDescriptor,
  strategiesSupporting,
  boundsDeviceWeights,
  defineStrategy,
} from './strategies/index.ts';
export type { StrategyConfig, StrategyDescriptor, StrategyName, StrategyOptions, Support } from './strategies/index.ts';
export type {
  TaskPlan,
  TaskPlanInput,
  UpdateEncoding,
  Strategy,
  StrategyInput,
  AdaptiveClipping,
  PrivacyBudget,
  Evaluation,
} from './plan.ts';
export { SecureAggregationSchema, secureAggregationConflicts, selectedDevices } from './secure-aggregation.ts';
export type { SecureAggregation, PlanConflict } from './secure-aggregation.ts';

export {
  TaskCreateSchema,
  TaskStatusSchema,
  TaskViewSchema,
  RoundStateSchema,
  RoundViewSchema,
  CheckInRequestSchema,
  CheckInResponseSchema,
  CheckInSelectedSchema,
  CheckInRetrySchema,
  RetryReasonSchema,
  GlobalWeightsRefSchema,
} from './tasks.ts';
export type {
  TaskCreate,
  TaskCreateInput,
  TaskStatus,
  TaskView,
  RoundState,
  RoundView,
  CheckInRequest,
  CheckInResponse,
  CheckInSelected,
  CheckInRetry,
  RetryReason,
  GlobalWeightsRef,
} from './tasks.ts';

export {
  UPDATE_META_HEADER,
  UPDATE_META_MAX_CHARS,
  UpdateMetaSchema,
  UpdateReceiptSchema,
  encodeUpdateMeta,
} from './updates.ts';
export type { UpdateMeta, UpdateReceipt } from './updates.ts';

export {
  TELEMETRY_MAX_EVENTS,
  TelemetryBatchSchema,
  TelemetryEventSchema,
  TelemetryReceiptSchema,
  HistogramSchema,
  LatencyEventSchema,
  ConfidenceEventSchema,
  PredictionsEventSchema,
  FeedbackEventSchema,
  ModelLoadedEventSchema,
  HeartbeatEventSchema,
  ErrorEventSchema,
  FeatureSummaryEventSchema,
  LATENCY_MAX_SAMPLES,
} from './telemetry.ts';
export type { TelemetryBatch, TelemetryEvent, TelemetryEventType, TelemetryReceipt, Histogram } from './telemetry.ts';

export {
  MODEL_STAGES,
  ModelStageSchema,
  ModelVariantViewSchema,
  ModelVersionViewSchema,
  ModelVersionListSchema,
  StageTransitionSchema,
} from './models.ts';
export type { ModelStage, ModelVariantView, ModelVersionView, ModelVersionList, StageTransition } from './models.ts';

// The manifest messages live with the signing code; re-exported so every
// message schema is reachable from here.
export { ManifestSchema, SignedManifestSchema, ManifestPublicKeySchema } from '../manifest/schema.ts';
export type { Manifest, SignedManifest, ManifestPublicKey } from '../manifest/schema.ts';

export {
  METRIC_OUTCOMES,
  MetricOutcomeSchema,
  CanaryVerdictNameSchema,
  MetricEvidenceSchema,
  SrmEvidenceSchema,
  RolloutActionSchema,
  RolloutVerdictSchema,
  RolloutViewSchema,
  ShadowConfigSchema,
} from './rollouts.ts';
export type { RolloutVerdict, RolloutView, ShadowConfig } from './rollouts.ts';
export { HealthSchema, type Health } from './health.ts';

export {
  MODEL_SPEC_FILE,
  MODEL_SPEC_VERSION,
  DEFAULT_OUTPUT_SPEC,
  ModelSpecSchema,
  OutputSpecSchema,
  MulticlassOutputSchema,
  BinaryOutputSchema,
  MultilabelOutputSchema,
  RegressionOutputSchema,
} from './model-spec.ts';
export type { ModelSpec, ModelSpecInput, OutputSpec, OutputSpecInput, OutputKind } from './model-spec.ts';

export {
  SECAGG_MASKED_HEADER,
  SecAggAbortedSchema,
  SecAggAbortReasonSchema,
  SecAggAcceptedSchema,
  SecAggPhaseSchema,
  SecAggRoundConfigSchema,
  SecAggRoundStatsSchema,
  SecAggWaitingSchema,
  SignedSecAggRoundConfigSchema,
  secAggAnswerSchema,
  secAggRoutes,
} from './secure-aggregation-round.ts';
export type {
  SecAggAborted,
  SecAggAbortReason,
  SecAggAccepted,
  SecAggPhase,
  SecAggRoundConfig,
  SecAggRoundStats,
  SignedSecAggRoundConfig,
} from './secure-aggregation-round.ts';
