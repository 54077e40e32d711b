/**
 * Kysely table types: what the columns hold in either database. JSON columns
 * are text, timestamps ISO-8601 text, and nothing here is dialect-specific;
 * `rows.ts` turns these into the domain objects of `types.ts`.
 */
import type { Generated } from 'kysely';

export interface SettingsTable {
  key: string;
  value: string;
  updated_at: string;
}
export interface CountersTable {
  scope: string;
  key: string;
  value: number;
}
export interface AdminKeysTable {
  id: string;
  key_hash: string;
  label: string;
  created_at: string;
  revoked_at: string | null;
}

export interface DevicesTable {
  device_id: string;
  app: string;
  token_hash: string;
  platform: string;
  capabilities: string;
  created_at: string;
  last_seen_at: string;
}

export interface ModelVersionsTable {
  app: string;
  version: number;
  parent_version: number | null;
  created_at: string;
  source: string;
  round_id: string | null;
  clients: number | null;
  clip_norm: number | null;
  noise_multiplier: number | null;
  epsilon: number | null;
  metrics: string;
  topology: string;
  weight_specs: string;
  input_spec: string | null;
  labels: string | null;
  variants: string;
}

export interface ModelStagesTable {
  app: string;
  version: number;
  stage: string;
  updated_at: string;
}

export interface StageHistoryTable {
  id: Generated<number>;
  app: string;
  version: number;
  from_stage: string | null;
  to_stage: string;
  actor: string;
  reason: string | null;
  at: string;
}

export interface ManifestsTable {
  app: string;
  generation: number;
  version: number;
  signed_manifest: string;
  created_at: string;
}

export interface TasksTable {
  id: string;
  app: string;
  name: string;
  model_version: number;
  current_version: number;
  plan: string;
  status: string;
  budget_epsilon: number;
  budget_delta: number;
  accountant: string;
  epsilon_spent: number;
  optimizer_state_hash: string | null;
  clip_norm: number | null;
  created_at: string;
  updated_at: string;
}

export interface RoundsTable {
  id: string;
  task_id: string;
  number: number;
  status: string;
  global_version: number;
  goal: number;
  selection_limit: number;
  selected_count: number;
  reported_count: number;
  started_at: string;
  deadline_at: string;
  closed_at: string | null;
  result_version: number | null;
  failure_reason: string | null;
  metrics: string;
}

export interface RoundParticipantsTable {
  round_id: string;
  device_id: string;
  status: string;
  selected_at: string;
  reported_at: string | null;
  /** Examples declared at check-in, capped by the plan (0004); null for older selections. */
  declared_examples: number | null;
}

export interface UpdatesTable {
  seq: Generated<number>;
  round_id: string;
  device_id: string;
  blob_hash: string;
  byte_length: number;
  num_examples: number;
  pre_clip_norm: number | null;
  meta: string;
  received_at: string;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  details: string;
}

export interface TelemetryTable {
  id: Generated<number>;
  device_id: string;
  app: string;
  version: number | null;
  kind: string;
  payload: string;
  at: string;
}

/** Migration 0002 (rollout-migration.ts). */
export interface RolloutsTable {
  id: string;
  app: string;
  candidate_version: number;
  control_version: number;
  status: string;
  stages: string;
  stage_index: number;
  stage_started_at: string;
  min_stage_seconds: number;
  min_samples: number;
  metrics: string;
  /** Migration 0005: the shadow setting (JSON) or null. */
  shadow: string | null;
  canary_generation: number | null;
  control_generation: number | null;
  last_verdict: string | null;
  reason: string | null;
  created_at: string;
  updated_at: string;
  ended_at: string | null;
}

/** Migration 0003 (partial-migration.ts): one heartbeat row per live coordinator process. */
export interface CoordinatorProcessesTable {
  id: string;
  started_at: string;
  heartbeat_at: string;
}

/** Migration 0003: a process's flushed partial sum of a closing round. */
export interface RoundPartialsTable {
  round_id: string;
  process_id: string;
  /** JSON array of the device ids the sum covers. */
  device_ids: string;
  count: number;
  total_weight: number;
  bounded_count: number;
  max_update_norm: number;
  norm_bound: number | null;
  /** Blob of the encoded sum; null for an empty partial ("I folded nothing"). */
  sum_hash: string | null;
  created_at: string;
}

/** Migration 0006: one secure-aggregation round's figures (SecAggRoundStats as JSON). */
export interface SecAggRoundStatsTable {
  round_id: string;
  stats: string;
  updated_at: string;
}

export interface Database {
  settings: SettingsTable;
  counters: CountersTable;
  admin_keys: AdminKeysTable;
  devices: DevicesTable;
  model_versions: ModelVersionsTable;
  model_stages: ModelStagesTable;
  stage_history: StageHistoryTable;
  manifests: ManifestsTable;
  tasks: TasksTable;
  rounds: RoundsTable;
  round_participants: RoundParticipantsTable;
  updates: UpdatesTable;
  audit_log: AuditLogTable;
  telemetry: TelemetryTable;
  rollouts: RolloutsTable;
  coordinator_processes: CoordinatorProcessesTable;
  round_partials: RoundPartialsTable;
  secagg_round_stats: SecAggRoundStatsTable;
}
