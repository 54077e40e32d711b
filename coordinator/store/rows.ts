/**
 * Row <-> domain mapping: snake_case columns to camelCase objects, JSON text
 * parsed at this edge so nothing above the store handles raw JSON strings.
 * Numbers go through Number() because PostgreSQL drivers return some integer
 * types as strings.
 */
import type { Selectable } from 'kysely';
import { TaskPlanSchema, type TaskPlan } from '../../shared/protocol/index.ts';
import { StoreError } from './errors.ts';
import type {
  AdminKeysTable,
  AuditLogTable,
  DevicesTable,
  ManifestsTable,
  ModelVersionsTable,
  RoundParticipantsTable,
  RoundsTable,
  StageHistoryTable,
  TasksTable,
  TelemetryTable,
  UpdatesTable,
} from './schema.ts';
import type {
  AccountantState,
  AdminKey,
  AuditEntry,
  Device,
  JsonObject,
  ManifestRecord,
  ModelStage,
  ModelVariant,
  ModelVersion,
  Participant,
  ParticipantStatus,
  Round,
  RoundStatus,
  StageTransition,
  Task,
  TaskStatus,
  TelemetryEvent,
  UpdateReceipt,
  VersionSource,
  WeightSpec,
} from './types.ts';

export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}

export function fromJson<T>(text: string, where: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new StoreError('io', `Stored JSON in ${where} is corrupt: ${(e as Error).message}`, { where }, { cause: e });
  }
}

/**
 * A stored plan, checked once here so every caller gets a typed plan with its
 * defaults. Plans are checked at creation, so a failure means the stored
 * JSON was altered or the schema tightened since the task was created.
 * @throws StoreError 'io' naming the task and the first problem
 */
function planOf(taskId: string, raw: unknown): TaskPlan {
  const parsed = TaskPlanSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new StoreError(
    'io',
    `The stored plan of task ${taskId} no longer parses (${issue?.path.join('.') || 'plan'}: ${issue?.message}); fix tasks.plan or recreate the task`,
    { where: 'tasks.plan', taskId },
    { cause: parsed.error },
  );
}

const num = (v: number | string): number => Number(v);
const numOrNull = (v: number | string | null): number | null => (v === null ? null : Number(v));

export function toAdminKey(r: Selectable<AdminKeysTable>): AdminKey {
  return { id: r.id, keyHash: r.key_hash, label: r.label, createdAt: r.created_at, revokedAt: r.revoked_at };
}

export function toDevice(r: Selectable<DevicesTable>): Device {
  return {
    deviceId: r.device_id,
    app: r.app,
    tokenHash: r.token_hash,
    platform: fromJson<JsonObject>(r.platform, 'devices.platform'),
    capabilities: fromJson<JsonObject>(r.capabilities, 'devices.capabilities'),
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
  };
}

export function toModelVersion(r: Selectable<ModelVersionsTable> & { stage: string }): ModelVersion {
  return {
    app: r.app,
    version: num(r.version),
    parentVersion: numOrNull(r.parent_version),
    createdAt: r.created_at,
    source: r.source as VersionSource,
    roundId: r.round_id,
    clients: numOrNull(r.clients),
    clipNorm: numOrNull(r.clip_norm),
    noiseMultiplier: numOrNull(r.noise_multiplier),
    epsilon: numOrNull(r.epsilon),
    metrics: fromJson<JsonObject>(r.metrics, 'model_versions.metrics'),
    topology: fromJson<JsonObject>(r.topology, 'model_versions.topology'),
    weightSpecs: fromJson<WeightSpec[]>(r.weight_specs, 'model_versions.weight_specs'),
    inputSpec: r.input_spec === null ? null : fromJson<JsonObject>(r.input_spec, 'model_versions.input_spec'),
    labels: r.labels === null ? null : fromJson<string[]>(r.labels, 'model_versions.labels'),
    variants: fromJson<ModelVariant[]>(r.variants, 'model_versions.variants'),
    stage: r.stage as ModelStage,
  };
}

export function toStageTransition(r: Selectable<StageHistoryTable>): StageTransition {
  return {
    id: num(r.id),
    app: r.app,
    version: num(r.version),
    from: r.from_stage as ModelStage | null,
    to: r.to_stage as ModelStage,
    actor: r.actor,
    reason: r.reason,
    at: r.at,
  };
}

export function toManifest(r: Selectable<ManifestsTable>): ManifestRecord {
  return {
    app: r.app,
    generation: num(r.generation),
    version: num(r.version),
    signedManifest: fromJson<JsonObject>(r.signed_manifest, 'manifests.signed_manifest'),
    createdAt: r.created_at,
  };
}

export function toTask(r: Selectable<TasksTable>): Task {
  return {
    id: r.id,
    app: r.app,
    name: r.name,
    modelVersion: num(r.model_version),
    currentVersion: num(r.current_version),
    plan: planOf(r.id, fromJson<unknown>(r.plan, 'tasks.plan')),
    status: r.status as TaskStatus,
    budget: { epsilon: num(r.budget_epsilon), delta: num(r.budget_delta) },
    accountant: fromJson<AccountantState>(r.accountant, 'tasks.accountant'),
    epsilonSpent: num(r.epsilon_spent),
    optimizerStateHash: r.optimizer_state_hash,
    clipNorm: numOrNull(r.clip_norm),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toRound(r: Selectable<RoundsTable>): Round {
  return {
    id: r.id,
    taskId: r.task_id,
    number: num(r.number),
    status: r.status as RoundStatus,
    globalVersion: num(r.global_version),
    goal: num(r.goal),
    selectionLimit: num(r.selection_limit),
    selectedCount: num(r.selected_count),
    reportedCount: num(r.reported_count),
    startedAt: r.started_at,
    deadlineAt: r.deadline_at,
    closedAt: r.closed_at,
    resultVersion: numOrNull(r.result_version),
    failureReason: r.failure_reason,
    metrics: fromJson<JsonObject>(r.metrics, 'rounds.metrics'),
  };
}

export function toParticipant(r: Selectable<RoundParticipantsTable>): Participant {
  return {
    roundId: r.round_id,
    deviceId: r.device_id,
    status: r.status as ParticipantStatus,
    selectedAt: r.selected_at,
    reportedAt: r.reported_at,
    declaredExamples: numOrNull(r.declared_examples),
  };
}

export function toReceipt(r: Omit<Selectable<UpdatesTable>, 'seq'>): UpdateReceipt {
  return {
    roundId: r.round_id,
    deviceId: r.device_id,
    blobHash: r.blob_hash,
    byteLength: num(r.byte_length),
    numExamples: num(r.num_examples),
    preClipNorm: numOrNull(r.pre_clip_norm),
    meta: fromJson<JsonObject>(r.meta, 'updates.meta'),
    receivedAt: r.received_at,
  };
}

export function toAuditEntry(r: Selectable<AuditLogTable>): AuditEntry {
  return {
    id: num(r.id),
    at: r.at,
    actor: r.actor,
    action: r.action,
    target: r.target,
    details: fromJson<JsonObject>(r.details, 'audit_log.details'),
  };
}

export function toTelemetry(r: Selectable<TelemetryTable>): TelemetryEvent {
  return {
    id: num(r.id),
    deviceId: r.device_id,
    app: r.app,
    version: numOrNull(r.version),
    kind: r.kind,
    payload: fromJson<JsonObject>(r.payload, 'telemetry.payload'),
    at: r.at,
  };
}
