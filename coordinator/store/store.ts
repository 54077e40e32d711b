/**
 * The `Store` contract: every piece of coordinator state goes through it, so
 * a process can die at any moment and another can pick up from the database.
 * Nothing here names SQLite; the SQLite store and the later PostgreSQL store
 * implement the same interface with the same Kysely queries.
 */
import type { SecAggRoundStats, TaskPlan, UpdateMeta } from '../../shared/protocol/index.ts';
import type { BlobStore } from './blob-store.ts';
import type { CoordinatorProcessRecord, NewRoundPartial, RoundPartial } from './partial-types.ts';
import type { NewRollout, Rollout, RolloutPatch, RolloutQuery, RolloutStatus } from './rollout-types.ts';
import type {
  AccountantState,
  AdminKey,
  AuditEntry,
  Device,
  IsoTime,
  JsonObject,
  JsonValue,
  ManifestRecord,
  ModelStage,
  ModelVariant,
  ModelVersion,
  Participant,
  PrivacyBudget,
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

export type { CoordinatorProcessRecord, NewRoundPartial, RoundPartial } from './partial-types.ts';

export interface Page {
  limit?: number;
  offset?: number;
}

export interface NewDevice {
  deviceId: string;
  app: string;
  /** `hashSecret(token)`; the store never sees the token at rest. */
  tokenHash: string;
  platform?: JsonObject;
  capabilities?: JsonObject;
}

export interface NewModelVersion {
  app: string;
  parentVersion?: number | null;
  source: VersionSource;
  roundId?: string | null;
  clients?: number | null;
  clipNorm?: number | null;
  noiseMultiplier?: number | null;
  epsilon?: number | null;
  metrics?: JsonObject;
  topology: JsonObject;
  weightSpecs: WeightSpec[];
  inputSpec?: JsonObject | null;
  labels?: string[] | null;
  variants: ModelVariant[];
  /** Initial stage; 'candidate' when omitted. Recorded in the stage history. */
  stage?: ModelStage;
  actor?: string;
}

export interface StageChange {
  to: ModelStage;
  actor: string;
  reason?: string | null;
  /** When given, the change happens only if the current stage is this one (else 'conflict'). */
  expectedFrom?: ModelStage;
}

export interface PublishManifest {
  app: string;
  version: number;
  /** Builds and signs the manifest once its generation is allocated (called inside the transaction). */
  sign: (generation: number) => JsonObject | Promise<JsonObject>;
}

export interface NewTask {
  id?: string;
  app: string;
  name: string;
  modelVersion: number;
  plan: TaskPlan;
  budget: PrivacyBudget;
  accountant?: AccountantState;
  clipNorm?: number | null;
  status?: TaskStatus;
}

export type TaskPatch = Partial<
  Pick<
    Task,
    'name' | 'status' | 'currentVersion' | 'plan' | 'accountant' | 'epsilonSpent' | 'optimizerStateHash' | 'clipNorm'
  >
>;

export interface NewRound {
  id?: string;
  taskId: string;
  globalVersion: number;
  goal: number;
  selectionLimit: number;
  deadlineAt: IsoTime;
}

export interface RoundFinish {
  /** Only rounds in one of these states are finished; otherwise `finishRound` returns null. */
  from: RoundStatus[];
  to: 'closed' | 'failed';
  resultVersion?: number | null;
  failureReason?: string | null;
  metrics?: JsonObject;
}

export type ClaimOutcome = 'selected' | 'already-selected' | 'full' | 'closed';

export interface NewUpdate {
  roundId: string;
  deviceId: string;
  /** Hash returned by `blobs.put` — write the blob first, then record it. */
  blobHash: string;
  byteLength: number;
  numExamples: number;
  preClipNorm?: number | null;
  /** The device's own claims (an upload's UpdateMeta), stored as JSON. */
  meta?: UpdateMeta | JsonObject;
}

export type RecordUpdateResult =
  | { outcome: 'accepted'; duplicate: false; receipt: UpdateReceipt; reportedCount: number }
  | { outcome: 'duplicate'; duplicate: true; receipt: UpdateReceipt; sameBlob: boolean }
  | { outcome: 'round-closed'; duplicate: false; status: RoundStatus }
  | { outcome: 'not-selected'; duplicate: false };

export interface NewAuditEntry {
  actor: string;
  action: string;
  target?: string | null;
  details?: JsonObject;
}

export interface AuditQuery {
  limit?: number;
  /** Cursor: only entries with a smaller id (entries come newest first). */
  beforeId?: number;
  actor?: string;
  action?: string;
  target?: string;
  since?: IsoTime;
}

export interface NewTelemetry {
  deviceId: string;
  app: string;
  version?: number | null;
  kind: string;
  payload: JsonObject;
  at?: IsoTime;
}

export interface TelemetryQuery {
  app: string;
  version?: number;
  kind?: string;
  since?: IsoTime;
  /** Cursor: only events with a larger id (events come oldest first). */
  afterId?: number;
  limit?: number;
}

/** Every state operation; what `transaction` hands its callback. */
export interface StoreOps {
  // settings
  getSetting(key: string): Promise<JsonValue | null>;
  setSetting(key: string, value: JsonValue): Promise<void>;
  /** Writes `value` only if the key is absent; returns what is stored afterwards (first writer wins). */
  setSettingIfAbsent(key: string, value: JsonValue): Promise<JsonValue>;

  // admin keys
  createAdminKey(input: { id?: string; keyHash: string; label: string }): Promise<AdminKey>;
  /** The unrevoked key whose hash matches `hashSecret(key)`, or null. */
  verifyAdminKey(key: string): Promise<AdminKey | null>;
  listAdminKeys(): Promise<AdminKey[]>;
  /** Returns false when the key was unknown or already revoked. */
  revokeAdminKey(id: string): Promise<boolean>;

  // devices
  createDevice(input: NewDevice): Promise<Device>;
  getDevice(deviceId: string): Promise<Device | null>;
  /** The device when `token` hashes to its stored hash (constant-time compare), else null. */
  verifyDeviceToken(deviceId: string, token: string): Promise<Device | null>;
  touchDevice(deviceId: string, at?: IsoTime): Promise<void>;
  listDevices(query?: Page & { app?: string }): Promise<Device[]>;
  countDevices(app: string): Promise<number>;

  // model registry
  /** Allocates the next version number of `input.app` atomically (1, 2, ...). */
  createModelVersion(input: NewModelVersion): Promise<ModelVersion>;
  getModelVersion(app: string, version: number): Promise<ModelVersion | null>;
  listModelVersions(app: string, query?: Page & { stage?: ModelStage }): Promise<ModelVersion[]>;
  latestModelVersion(app: string): Promise<ModelVersion | null>;
  listApps(): Promise<string[]>;
  /** Whether a version of `app` refers to blob `hash` (weights, shards, topology): what a device of that app may download. */
  appReferencesBlob(app: string, hash: string): Promise<boolean>;
  /** Moves a version to a new stage and records the transition; throws not_found / conflict. */
  setStage(app: string, version: number, change: StageChange): Promise<StageTransition>;
  stageHistory(app: string, version?: number): Promise<StageTransition[]>;

  // manifests
  /** Allocates generation = previous + 1 for the app and stores the signed manifest. */
  publishManifest(input: PublishManifest): Promise<ManifestRecord>;
  latestManifest(app: string): Promise<ManifestRecord | null>;
  getManifest(app: string, generation: number): Promise<ManifestRecord | null>;

  // tasks
  createTask(input: NewTask): Promise<Task>;
  getTask(id: string): Promise<Task | null>;
  listTasks(query?: Page & { app?: string; status?: TaskStatus }): Promise<Task[]>;
  /** Applies the patch; throws not_found. With `ifStatus`, applies only from those statuses (else conflict). */
  updateTask(id: string, patch: TaskPatch, options?: { ifStatus?: TaskStatus[] }): Promise<Task>;

  // rounds
  /** Opens a round with the next number of its task. */
  createRound(input: NewRound): Promise<Round>;
  getRound(id: string): Promise<Round | null>;
  latestRound(taskId: string): Promise<Round | null>;
  listRounds(query?: Page & { taskId?: string; status?: RoundStatus[]; deadlineBefore?: IsoTime }): Promise<Round[]>;
  /** open -> closing, only once: the caller that gets `true` is the one that closes the round. */
  beginClosing(roundId: string): Promise<boolean>;
  /** Ends a round (closed or failed) and marks unreported participants dropped; null if not in `from`. */
  finishRound(roundId: string, finish: RoundFinish): Promise<Round | null>;
  /**
   * Atomically selects the device while the round is open and under its
   * selection limit, keeping `declaredExamples` (its check-in count) with the
   * selection. A device already selected keeps the count it was selected with.
   */
  claimSlot(roundId: string, deviceId: string, declaredExamples?: number): Promise<ClaimOutcome>;
  getParticipant(roundId: string, deviceId: string): Promise<Participant | null>;
  listParticipants(roundId: string): Promise<Participant[]>;

  // updates
  /**
   * Records an uploaded update, idempotently per (round, device). Write the
   * blob durably first (`blobs.put`), then call this: a blob without a row is
   * garbage to collect, while a row without its blob would be a lost ack.
   */
  recordUpdate(input: NewUpdate): Promise<RecordUpdateResult>;
  getUpdate(roundId: string, deviceId: string): Promise<UpdateReceipt | null>;
  /** Every stored update of a round, in arrival order (to recompute an aggregate after a crash). */
  listUpdates(roundId: string): Promise<UpdateReceipt[]>;

  // audit log
  appendAudit(entry: NewAuditEntry): Promise<AuditEntry>;
  listAudit(query?: AuditQuery): Promise<AuditEntry[]>;

  // telemetry
  appendTelemetry(events: NewTelemetry[]): Promise<number>;
  listTelemetry(query: TelemetryQuery): Promise<TelemetryEvent[]>;
  /** Deletes telemetry stored before `before` (retention); returns how many rows went. */
  deleteTelemetryBefore(before: IsoTime): Promise<number>;

  // rollouts
  createRollout(input: NewRollout): Promise<Rollout>;
  getRollout(id: string): Promise<Rollout | null>;
  /** Newest first. */
  listRollouts(query?: RolloutQuery): Promise<Rollout[]>;
  /**
   * Applies the patch; throws not_found, or conflict when `ifStatus` is given
   * and the status is not in it, or `ifStageIndex` is given and the stage is
   * another (a transition decided on a state another process has since left).
   */
  updateRollout(
    id: string,
    patch: RolloutPatch,
    options?: { ifStatus?: RolloutStatus[]; ifStageIndex?: number },
  ): Promise<Rollout>;

  // coordinator processes and round partials (several processes on one database)
  /** Creates or refreshes this process's heartbeat row (stamped with the store's clock). */
  heartbeatProcess(id: string): Promise<void>;
  /** Drops the heartbeat row on a clean stop, so closers stop waiting for this process at once. */
  removeProcess(id: string): Promise<void>;
  /** Processes whose last heartbeat is at or after `since`, by id. */
  listLiveProcesses(since: IsoTime): Promise<CoordinatorProcessRecord[]>;
  /** Stores a process's partial sum of a round once; false when that process already flushed this round. */
  putRoundPartial(input: NewRoundPartial): Promise<boolean>;
  /** The flushed partials of a round, oldest first (the order in which a closer trusts them). */
  listRoundPartials(roundId: string): Promise<RoundPartial[]>;
  /** Removes a round's partials and returns them (their sum blobs are the caller's to delete). */
  deleteRoundPartials(roundId: string): Promise<RoundPartial[]>;
  /** Removes and returns the partials of every closed or failed round (late flushes, crashed closers). */
  pruneRoundPartials(): Promise<RoundPartial[]>;

  // secure-aggregation rounds: counts per phase, never a phase message
  /** Writes (or replaces) the figures of a secure-aggregation round; 'invalid' when they do not parse. */
  putSecAggRoundStats(roundId: string, stats: SecAggRoundStats): Promise<void>;
  getSecAggRoundStats(roundId: string): Promise<SecAggRoundStats | null>;
  /** The stored figures of those rounds that have any, by round id. */
  listSecAggRoundStats(roundIds: readonly string[]): Promise<Map<string, SecAggRoundStats>>;
}

/**
 * All coordinator state: typed operations, a blob store and transactions.
 *
 * @example
 * ```ts
 * const store = await openSqliteStore({ dataDir: './.flock' });
 * const { hash, size } = await store.blobs.put(bytes);
 * const r = await store.recordUpdate({ roundId, deviceId, blobHash: hash, byteLength: size, numExamples: 32 });
 * if (r.outcome === 'accepted' || r.outcome === 'duplicate') ack(r.receipt);
 * await store.close();
 * ```
 */
export interface Store extends StoreOps {
  readonly kind: 'sqlite' | 'postgres';
  readonly blobs: BlobStore;
  /**
   * Runs `fn` atomically. Use only `tx` inside: calling the outer store from
   * within would wait for this very transaction, so it throws instead.
   */
  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on one consistent, read-only view of the store: every read in it
   * sees the same committed state, never half of a transaction that commits
   * meanwhile (PostgreSQL: REPEATABLE READ READ ONLY; SQLite: a deferred
   * read transaction, whose WAL snapshot holds until it ends). Only read in it.
   *
   * @example
   * ```ts
   * const [rollout, latest] = await store.snapshot(async (tx) => [await tx.getRollout(id), await tx.latestManifest(app)]);
   * ```
   */
  snapshot<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
