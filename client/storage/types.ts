/**
 * The client's persistent state behind one small async interface, so the SDK
 * runs on IndexedDB in pages and workers and on memory in Node simulations and
 * tests. Both implementations pass the same contract (`contract.ts`).
 *
 * Invariants every implementation keeps:
 * - a version is activated only when its model record and every shard of its
 *   variant are stored (a partial download is never activated);
 * - activation is atomic: the old active version becomes `previous` in the
 *   same transaction;
 * - `newestGeneration` never decreases; a trusted key is set once (TOFU);
 * - examples are bounded by count and age, oldest evicted first.
 */
import type { InputSpec, Manifest } from '../../shared/manifest/index.ts';
import type { ModelTopology, WeightSpec } from '../../shared/model/index.ts';
import type { WeightEncoding } from '../../shared/protocol/fields.ts';
import type { ModelSpec } from '../../shared/protocol/model-spec.ts';

/** One stored model version of an app, in the variant the device downloaded. */
export interface StoredModel {
  app: string;
  version: number;
  manifest: Manifest;
  encoding: WeightEncoding;
  weightSpecs: WeightSpec[];
  topology: ModelTopology;
  inputSpec: InputSpec;
  /** The version's model spec (preprocessing, output kind), checked against the manifest's signed hash. */
  modelSpec?: ModelSpec;
  storedAt: number;
}

/** Per-app pointers: what runs, what to roll back to, and what to trust. */
export interface AppPointer {
  app: string;
  activeVersion: number | null;
  previousVersion: number | null;
  /** Newest manifest generation ever accepted; older manifests are replays. */
  newestGeneration: number;
  /** Base64 Ed25519 public key trusted on first use (or pinned). */
  trustedPublicKey: string | null;
}

/** A labelled example kept on the device for local training; never uploaded. */
export interface StoredExample {
  id: number;
  app: string;
  input: Float32Array;
  /** The class index (multiclass; 0 or 1 for binary); 0 for kinds whose target is `target`. */
  label: number;
  /** The full target for output kinds with several values (multilabel 0/1 per label, regression values). */
  target?: Float32Array;
  /** Epoch milliseconds. */
  createdAt: number;
}

export type OutboxKind = 'update' | 'telemetry';

/** A request waiting for the network (a model update or a telemetry batch). */
export interface OutboxEntry {
  id: string;
  kind: OutboxKind;
  method: 'PUT' | 'POST';
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
  attempts: number;
  /** Epoch milliseconds; not sent before. */
  nextAttemptAt: number;
  createdAt: number;
  lastError?: string;
}

/** This device's registration with the coordinator for one app. */
export interface DeviceRecord {
  app: string;
  deviceId: string;
  token: string;
}

export interface ClientStoreOptions {
  /** Most examples kept per app (default 5000); the oldest is evicted. */
  maxExamples?: number;
  /** Examples older than this are evicted (default 30 days). */
  maxExampleAgeMs?: number;
  /** Most outbox entries (default 1000); the oldest telemetry is dropped first, updates never. */
  maxOutboxEntries?: number;
  /** Clock in epoch milliseconds (tests pass a fake one). */
  now?: () => number;
}

export const DEFAULT_MAX_EXAMPLES = 5000;
export const DEFAULT_MAX_EXAMPLE_AGE_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_MAX_OUTBOX_ENTRIES = 1000;

export type TrustResult =
  | { status: 'stored' | 'matched'; trustedPublicKey: string }
  | { status: 'mismatch'; trustedPublicKey: string };

export type ClientStoreErrorCode =
  | 'model_missing'
  | 'shards_missing'
  | 'outbox_full'
  | 'bad_input'
  | 'quota_exceeded'
  | 'closed';

/**
 * A store operation refused: the message says why and what to do.
 *
 * @example
 * try { await store.activateVersion('digits', 4); } catch (e) {
 *   if (e instanceof ClientStoreError && e.code === 'shards_missing') await downloadAgain();
 * }
 */
export class ClientStoreError extends Error {
  readonly code: ClientStoreErrorCode;
  constructor(code: ClientStoreErrorCode, message: string) {
    super(message);
    this.name = 'ClientStoreError';
    this.code = code;
  }
}

/** What `pruneVersions` removed. */
export interface PruneResult {
  deletedVersions: number[];
  deletedShards: string[];
}

/**
 * The client's persistent state. Values come back as copies: mutating a
 * returned array never changes what is stored.
 *
 * @example
 * const store = await openIndexedDbStore('flock'); // or createMemoryStore()
 * await store.putShard(hash, bytes);
 * await store.putModel(model);
 * await store.activateVersion('digits', model.version);
 */
export interface ClientStore {
  putModel(model: StoredModel): Promise<void>;
  getModel(app: string, version: number): Promise<StoredModel | undefined>;
  /** Versions of `app`, ascending. */
  listModels(app: string): Promise<StoredModel[]>;

  putShard(hash: string, bytes: Uint8Array): Promise<void>;
  getShard(hash: string): Promise<Uint8Array | undefined>;
  /** The hashes among `hashes` not stored yet (what still has to be downloaded), in order. */
  missingShards(hashes: readonly string[]): Promise<string[]>;

  getPointer(app: string): Promise<AppPointer>;
  /**
   * In one transaction: check the model and all its shards are stored, make it
   * active and the old active version `previous`. Activating the active
   * version changes nothing.
   * @throws ClientStoreError 'model_missing' | 'shards_missing'
   */
  activateVersion(app: string, version: number): Promise<AppPointer>;
  /** Raise `newestGeneration` to `generation` if higher; returns the stored value. */
  noteGeneration(app: string, generation: number): Promise<number>;
  /** Trust on first use: store `publicKey` if none is trusted yet, else compare. */
  trustPublicKey(app: string, publicKey: string): Promise<TrustResult>;
  /** Delete models other than active/previous, then shards no model references. */
  pruneVersions(app: string): Promise<PruneResult>;

  /** Store an example, evicting expired and over-count ones; returns its id and how many were evicted. */
  addExample(
    app: string,
    input: Float32Array,
    label: number,
    target?: Float32Array,
  ): Promise<{ id: number; evicted: number }>;
  /** Unexpired examples of `app`, oldest first. */
  listExamples(app: string): Promise<StoredExample[]>;
  countExamples(app: string): Promise<number>;
  clearExamples(app: string): Promise<void>;

  /** Queue a request; an entry with the same id is replaced (idempotent re-queue). */
  enqueueOutbox(
    entry: Omit<OutboxEntry, 'attempts' | 'nextAttemptAt' | 'createdAt'> & { nextAttemptAt?: number },
  ): Promise<OutboxEntry>;
  /** Entries due by the store clock, soonest first (ties by id). */
  dueOutbox(limit?: number, at?: number): Promise<OutboxEntry[]>;
  /** Count a failed attempt and schedule the next one. */
  rescheduleOutbox(id: string, nextAttemptAt: number, error: string): Promise<void>;
  removeOutbox(id: string): Promise<void>;
  countOutbox(): Promise<{ update: number; telemetry: number }>;

  getDevice(app: string): Promise<DeviceRecord | undefined>;
  putDevice(device: DeviceRecord): Promise<void>;
  deleteDevice(app: string): Promise<void>;

  close(): Promise<void>;
}
