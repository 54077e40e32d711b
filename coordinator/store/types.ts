/**
 * The plain objects the store reads and writes. JSON columns arrive here
 * already parsed; timestamps are ISO-8601 UTC strings (`Date#toISOString()`),
 * which sort correctly as text on SQLite and PostgreSQL alike.
 */
import type { TaskPlan } from '../../shared/protocol/index.ts';

/** Any JSON value, as stored in the JSON text columns. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };
/** An ISO-8601 UTC timestamp such as `2025-01-31T12:00:00.000Z`. */
export type IsoTime = string;

export type ModelStage = 'candidate' | 'canary' | 'production' | 'archived';
export type VersionSource = 'push' | 'round';
export type TaskStatus = 'active' | 'paused' | 'budget_exhausted' | 'done';
export type RoundStatus = 'open' | 'closing' | 'closed' | 'failed';
export type ParticipantStatus = 'selected' | 'reported' | 'dropped';

export const MODEL_STAGES: readonly ModelStage[] = ['candidate', 'canary', 'production', 'archived'];
export const TASK_STATUSES: readonly TaskStatus[] = ['active', 'paused', 'budget_exhausted', 'done'];
export const ROUND_STATUSES: readonly RoundStatus[] = ['open', 'closing', 'closed', 'failed'];

export interface AdminKey {
  id: string;
  /** sha256 hex of the key; the key itself is never stored. */
  keyHash: string;
  label: string;
  createdAt: IsoTime;
  revokedAt: IsoTime | null;
}

export interface Device {
  deviceId: string;
  app: string;
  /** sha256 hex of the device token; the token itself is never stored. */
  tokenHash: string;
  platform: JsonObject;
  capabilities: JsonObject;
  createdAt: IsoTime;
  lastSeenAt: IsoTime;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype?: string;
}

export interface ModelShardRef {
  hash: string;
  size: number;
}

/** One stored encoding of a model's weights (fp32, fp16, int8...). */
export interface ModelVariant {
  encoding: string;
  totalBytes: number;
  sha256: string;
  shards: ModelShardRef[];
}

/** An immutable model version plus its current (mutable) stage. */
export interface ModelVersion {
  app: string;
  version: number;
  parentVersion: number | null;
  createdAt: IsoTime;
  source: VersionSource;
  roundId: string | null;
  clients: number | null;
  clipNorm: number | null;
  noiseMultiplier: number | null;
  epsilon: number | null;
  metrics: JsonObject;
  /** tfjs model.json without `weightsManifest`. */
  topology: JsonObject;
  weightSpecs: WeightSpec[];
  inputSpec: JsonObject | null;
  labels: string[] | null;
  variants: ModelVariant[];
  stage: ModelStage;
}

export interface StageTransition {
  id: number;
  app: string;
  version: number;
  from: ModelStage | null;
  to: ModelStage;
  actor: string;
  reason: string | null;
  at: IsoTime;
}

export interface ManifestRecord {
  app: string;
  /** Monotonic per app; clients refuse a manifest older than one they hold. */
  generation: number;
  version: number;
  signedManifest: JsonObject;
  createdAt: IsoTime;
}

export interface PrivacyBudget {
  epsilon: number;
  delta: number;
}

/** RDP accountant state: accumulated RDP at each order. */
export interface AccountantState {
  orders: number[];
  rdp: number[];
}

export interface Task {
  id: string;
  app: string;
  name: string;
  /** The version the task started from. */
  modelVersion: number;
  /** The global version the next round trains from; advances as rounds produce versions. */
  currentVersion: number;
  /** Parsed by the store when the row is read: callers get a checked plan with its defaults. */
  plan: TaskPlan;
  status: TaskStatus;
  budget: PrivacyBudget;
  accountant: AccountantState;
  epsilonSpent: number;
  /** BlobStore hash of the server optimizer's slots, if the strategy keeps any. */
  optimizerStateHash: string | null;
  /** Current clip norm (moves under adaptive clipping). */
  clipNorm: number | null;
  createdAt: IsoTime;
  updatedAt: IsoTime;
}

export interface Round {
  id: string;
  taskId: string;
  number: number;
  status: RoundStatus;
  globalVersion: number;
  /** Clients per round wanted. */
  goal: number;
  /** ceil(goal * overSelection): at most this many devices are selected. */
  selectionLimit: number;
  selectedCount: number;
  reportedCount: number;
  startedAt: IsoTime;
  deadlineAt: IsoTime;
  closedAt: IsoTime | null;
  resultVersion: number | null;
  failureReason: string | null;
  metrics: JsonObject;
}

export interface Participant {
  roundId: string;
  deviceId: string;
  status: ParticipantStatus;
  selectedAt: IsoTime;
  reportedAt: IsoTime | null;
  /** Examples the device declared at check-in (as stored: capped by the plan); null if not recorded. */
  declaredExamples: number | null;
}

/** What the coordinator acknowledged for one (round, device) update. */
export interface UpdateReceipt {
  roundId: string;
  deviceId: string;
  blobHash: string;
  byteLength: number;
  numExamples: number;
  preClipNorm: number | null;
  meta: JsonObject;
  receivedAt: IsoTime;
}

export interface AuditEntry {
  id: number;
  at: IsoTime;
  /** 'admin:<keyId>' | 'system' | 'device:<id>' */
  actor: string;
  action: string;
  target: string | null;
  details: JsonObject;
}

export interface TelemetryEvent {
  id: number;
  deviceId: string;
  app: string;
  version: number | null;
  kind: string;
  payload: JsonObject;
  at: IsoTime;
}
