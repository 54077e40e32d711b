/**
 * The model a Flock runs and the tfjs backend it runs on: installing a
 * version (a predictor over its weights), rebuilding it from the device store
 * when the backend changes, falling back when a WebGPU device is lost, and the
 * optional calibration micro-benchmark. It lives from connect() until close().
 */
import * as tf from '@tensorflow/tfjs';
import {
  benchmarkBackends,
  chooseBackend,
  rankBackends,
  type BackendCapabilities,
  type BackendName,
} from '../backends/select.ts';
import { isSlow, localStorageCache, pickBackend, webgpuDeviceLost } from '../backend-runtime.ts';
import type { FlockEvents } from '../events.ts';
import { FlockError } from '../flock-error.ts';
import { createPredictor, exampleLayout, type Predictor } from '../inference/index.ts';
import { loadActiveModel, type LoadedModel } from '../model-loader.ts';
import type { ClientStore } from '../storage/index.ts';
import { activateBackend } from '../tfjs-backends.ts';

export interface ModelSessionOptions {
  app: string;
  store: ClientStore;
  events: FlockEvents;
  capabilities: BackendCapabilities;
  backend: { backend: BackendName; reason: string };
  batchWindowMs?: number;
  cacheSize?: number;
  /** Called before a version replaces `previous` (telemetry closes the old version's batch there). */
  onInstall?: (loaded: LoadedModel, previous: LoadedModel | null, fromCache: boolean) => void;
}

/** What predict() and record() need: the running version and its predictor. */
export interface LiveModel {
  current: LoadedModel;
  predictor: Predictor;
}

export class ModelSession {
  backend: BackendName;
  backendReason: string;
  slowBackend: boolean;
  current: LoadedModel | null = null;
  /** Set once by close() (or a failed first download); every part of the Flock consults it. */
  closed = false;
  readonly #options: ModelSessionOptions;
  readonly #failedBackends: BackendName[] = [];
  #predictor: Predictor | null = null;

  constructor(options: ModelSessionOptions) {
    this.#options = options;
    this.backend = options.backend.backend;
    this.backendReason = options.backend.reason;
    this.slowBackend = isSlow(this.backend, options.capabilities);
    this.#watchBackend();
  }

  get capabilities(): BackendCapabilities {
    return this.#options.capabilities;
  }

  /** The running model, or FlockError 'closed'. */
  live(): LiveModel {
    if (this.closed || this.#predictor === null || this.current === null)
      throw new FlockError('closed', 'this Flock was closed; call connect() again');
    return { predictor: this.#predictor, current: this.current };
  }

  install(loaded: LoadedModel, fromCache = false): void {
    const old = { predictor: this.#predictor, model: this.current?.model };
    this.#options.onInstall?.(loaded, this.current, fromCache);
    this.current = loaded;
    this.#predictor = createPredictor({
      model: loaded.model,
      inputSpec: loaded.stored.inputSpec,
      // The version's preprocessing (raw text, records, images) and output kind, verified against the signed manifest.
      modelSpec: loaded.stored.modelSpec,
      batchWindowMs: this.#options.batchWindowMs,
      cacheSize: this.#options.cacheSize,
    });
    old.predictor?.dispose();
    try {
      old.model?.dispose();
    } catch {
      // Weights on a lost GPU device may refuse to be freed; the device took them with it.
    }
  }

  /** Rebuild the active model from the store on the backend now active. */
  async reinstallFromStore(): Promise<void> {
    const { store, app } = this.#options;
    const loaded = await loadActiveModel(store, app);
    if (loaded === null)
      throw new FlockError(
        'no_model',
        `the active model of "${app}" vanished from the store; call checkForUpdate() to download it again`,
      );
    if (this.closed) {
      loaded.model.dispose();
      return;
    }
    this.install(loaded);
  }

  /** Benchmarks the candidate backends on the running model and moves it to the fastest. */
  async calibrate(): Promise<void> {
    const loaded = this.current;
    if (loaded === null) return;
    const { capabilities, app } = this.#options;
    const { exampleShape, dtype } = exampleLayout(loaded.stored.inputSpec);
    const exclude = this.#failedBackends;
    const candidates = rankBackends(capabilities).filter((b) => !exclude.includes(b));
    const bench = await benchmarkBackends(
      candidates,
      async (b) => {
        await activateBackend(b);
        const y = tf.tidy(() => loaded.model.predict(tf.zeros([1, ...exampleShape], dtype)) as tf.Tensor);
        await y.data();
        y.dispose();
      },
      {
        cache: localStorageCache(),
        cacheKey: `${app}:${loaded.stored.manifest.modelTopologyHash}`,
        runs: 5,
        warmup: 2,
      },
    ).catch(() => null);
    const choice = chooseBackend({ capabilities, benchmark: bench ?? undefined, exclude });
    await activateBackend(choice.backend);
    const moved = bench !== null && !bench.fromCache; // the benchmark moved the weights between backends
    const changed = choice.backend !== this.backend;
    this.#setBackend(choice.backend, choice.reason);
    if (moved || changed) await this.reinstallFromStore();
    if (changed) this.#watchBackend();
  }

  /** Frees the predictor and the weights; the session answers nothing afterwards. */
  dispose(): void {
    this.closed = true;
    this.#predictor?.dispose();
    this.current?.model.dispose();
  }

  #setBackend(backend: BackendName, reason: string): void {
    this.backend = backend;
    this.backendReason = reason;
    this.slowBackend = isSlow(backend, this.#options.capabilities);
  }

  /** On webgpu, fall back when the device is lost (reason 'destroyed' too: only tfjs or the page can destroy it). */
  #watchBackend(): void {
    if (this.backend !== 'webgpu') return;
    void webgpuDeviceLost()?.then((info) => {
      if (this.closed || this.backend !== 'webgpu') return;
      void this.#fallBackFrom(
        'webgpu',
        `the WebGPU device was lost (${info?.reason ?? 'unknown'}${info?.message ? `: ${info.message}` : ''})`,
      );
    });
  }

  async #fallBackFrom(lost: BackendName, why: string): Promise<void> {
    const { events, capabilities } = this.#options;
    this.#failedBackends.push(lost);
    try {
      const choice = await pickBackend(capabilities, undefined, this.#failedBackends);
      this.#setBackend(choice.backend, `${choice.reason} (${why})`);
      await this.reinstallFromStore();
      events.emit('error', {
        error: new FlockError(
          'backend_lost',
          `${why}; Flock switched to ${this.backend} and rebuilt model ${this.current?.stored.version} from the device store; predictions continue there`,
        ),
        during: 'backend',
      });
    } catch (error) {
      const why2 = error instanceof Error ? error.message : String(error);
      events.emit('error', {
        error: new FlockError('backend_lost', `${why}, and falling back failed: ${why2}; call connect() again`, {
          cause: error,
        }),
        during: 'backend',
      });
    }
  }
}
