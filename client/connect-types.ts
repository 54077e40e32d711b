/**
 * The public shapes of `connect`: its options, the `Flock` it returns and
 * what `status()` reports. Kept apart from the wiring in connect.ts.
 */
import type { WeightEncoding } from '../shared/protocol/fields.ts';
import type { BackendName } from './backends/select.ts';
import type { FlockEventName, FlockListener } from './events.ts';
import type { PredictInput, Prediction, RawInput, RecordTarget } from './inference/index.ts';
import type { ClientStore } from './storage/index.ts';
import type { EligibilityPolicy, LocalPrivacySpent } from './training/index.ts';

/** Federated training: which tasks this device joins and when it may train. */
export interface TrainOptions {
  /** Task ids (from the operator's `flock task create`) to check in to, or 'auto': the app's active tasks at connect time. */
  tasks: string[] | 'auto';
  /** When the device may train; default: page hidden or user idle 60 s, charging and unmetered where known. */
  eligibility?: EligibilityPolicy;
  /** How often an ineligible device looks again, in ms (default 30 000). */
  eligibilityPollMs?: number;
  /** Backend to train on (default: the inference backend; wasm, then cpu, if it cannot start in the worker). */
  backend?: BackendName;
  /** Make the training Worker yourself (ESM builds); the script-tag bundle starts itself. */
  createWorker?: () => Worker;
  /** Most recorded examples used per round, newest first (default 2000). */
  maxExamplesPerRound?: number;
  /** Longest one local training may take, in ms (default 10 min). */
  timeoutMs?: number;
  /**
   * Also train from the service worker's sync events when the page is closed
   * (default false): needs a Flock service worker (`startFlockServiceWorker`)
   * controlling the page; failures arrive as 'error' events.
   */
  background?: boolean;
}

export interface ConnectOptions {
  /** Coordinator URL, e.g. `https://flock.example.com` (same origin or CORS-enabled). */
  url: string;
  /** The app whose model this page runs. */
  app: string;
  /** A first start with no cached model fails with FlockError 'unreachable' after this long without one (default 60 000 ms). */
  connectTimeoutMs?: number;
  /** The coordinator's manifest key (base64 Ed25519), pinned; without it the first key seen is trusted and kept. */
  publicKey?: string;
  /** Force a tfjs backend instead of letting Flock choose. */
  backend?: BackendName;
  /** Force a weight variant instead of the policy (int8 on slow backends, fp32 on hardware GPUs). */
  variant?: WeightEncoding;
  /** Bring your own store (e.g. `createMemoryStore()` in tests); default: IndexedDB `dbName`. */
  store?: ClientStore;
  /** IndexedDB database name (default 'flock'). */
  dbName?: string;
  /** URL of the folder holding tfjs-backend-wasm*.wasm; the script-tag bundle finds them beside itself. */
  assetsUrl?: string;
  /** Check for a newer model in the background after a cached start and every `updateIntervalMs` (default true). */
  autoUpdate?: boolean;
  /** How often to poll the manifest (ETag-conditional, so usually a bodiless 304), in ms (default 15 min; 0 = never). */
  updateIntervalMs?: number;
  /**
   * Telemetry for the coordinator's canary analysis and drift checks (latency
   * sketch with a reservoir of raw samples, confidence histogram, labelled
   * feedback from `record`, per-feature summaries, model-loaded events), sent
   * from the outbox every `intervalMs` (default 60 s), when the page is
   * hidden, and on close. While a model is active and nothing else was sent
   * for `heartbeatMs` (default 5 min), a flush sends a heartbeat, so a page
   * left open counts as exposed in every rollout stage. `false` turns it off.
   */
  telemetry?: false | { intervalMs?: number; featureRange?: [number, number]; heartbeatMs?: number };
  /**
   * Shadow mode (default true): when a rollout runs a shadow version and this
   * device is not on the cpu backend, a sampled share of predictions also runs
   * on the shadow after answering; only agreement and latency are reported.
   */
  shadow?: boolean;
  /** Time the actual model on each available backend once and run on the fastest; cached per device and model topology. */
  calibrate?: boolean;
  /** Join federated training; without it the device only infers and records. */
  train?: TrainOptions;
  /** Micro-batching window of `predict` in ms (default 2; 0 = flush at the end of the current task). */
  batchWindowMs?: number;
  /** Predictions cached for repeated inputs (default 256; 0 disables the cache). */
  cacheSize?: number;
}

/** A snapshot of what the SDK is doing. */
export interface FlockStatus {
  app: string;
  deviceId: string | null;
  backend: BackendName;
  /** Why this backend was chosen. */
  backendReason: string;
  modelVersion: number | null;
  previousModelVersion: number | null;
  encoding: WeightEncoding | null;
  /** Rollout cohort of the running manifest, when it came from a rollout. */
  cohort: string | null;
  /** The rollout's shadow version this device runs beside the model (its answers never reach the app), or null. */
  shadowVersion: number | null;
  pendingUploads: number;
  examples: number;
  /** Backend the training worker runs on, once it started (may differ from `backend`). */
  trainingBackend: string | null;
  /** Privacy spent through local noise, per task (the coordinator's central-DP spending is in its task view). */
  privacySpent: Record<string, LocalPrivacySpent>;
}

/** A connected SDK instance. */
export interface Flock {
  /**
   * Run the active model on one input: a feature vector, or with a version
   * that ships preprocessing raw input (`'some text'`, `{ field: value }`, an
   * ImageData). The answer is typed by the version's output kind (`kind`).
   * @throws FlockInputError naming the field for input the model cannot take
   *
   * @example
   * const p = await flock.predict('WIN A FREE CRUISE');
   * if (p.kind === 'binary' && p.positive) moveToSpam();
   */
  predict(input: PredictInput | RawInput): Promise<Prediction>;
  /**
   * Keep a labelled example on the device for local training (never uploaded).
   * The target fits the output kind: a class index or label name (multiclass),
   * 0/1, true/false or a label name (binary), the label names that apply
   * (multilabel), a number or one per output (regression).
   * @throws FlockInputError ('bad_target' or a bad input field)
   *
   * @example
   * await flock.record('WIN A FREE CRUISE', 'spam');
   */
  record(input: PredictInput | RawInput, target: RecordTarget): Promise<void>;
  status(): Promise<FlockStatus>;
  /** Listen to an event; returns the function that stops listening. */
  on<K extends FlockEventName>(event: K, listener: FlockListener<K>): () => void;
  /**
   * Ask the coordinator for a newer model now; rejects (and emits 'error') when the download is refused.
   * Resolves once the rollout's shadow version (if any) is loaded too.
   */
  checkForUpdate(): Promise<{ updated: boolean; version: number | null }>;
  close(): Promise<void>;
}
