/**
 * `connect`: the one call a web app makes. It opens the device's store, picks
 * the tfjs backend, and gets a verified model ready to predict — from
 * IndexedDB with no network request when one is cached (offline start), else
 * from the coordinator. Registration and model updates then run in the
 * background and report problems as 'error' events while the current model
 * keeps answering.
 *
 * Update checks send the last manifest ETag, so a poll with nothing new is a
 * bodiless 304. A lost WebGPU device (driver reset, GPU process crash, tab
 * backgrounded on some platforms) is answered by switching to the next
 * backend and rebuilding the model from IndexedDB.
 */
import * as tf from '@tensorflow/tfjs';
import { PROTOCOL_VERSION } from '../shared/protocol/fields.ts';
import {
  benchmarkBackends,
  browserProbeEnvironment,
  chooseBackend,
  probeBackends,
  rankBackends,
  type BackendName,
} from './backends/select.ts';
import { isSlow, localStorageCache, offlineAwareOutbox, pickBackend, webgpuDeviceLost } from './backend-runtime.ts';
import type { ConnectOptions, Flock } from './connect-types.ts';

export type { ConnectOptions, Flock, FlockStatus, TrainOptions } from './connect-types.ts';
import { FlockEvents } from './events.ts';
import { FlockTransport } from './federated/transport.ts';
import { DEFAULT_CONNECT_TIMEOUT_MS, firstDownload, firstModelError } from './first-model-error.ts';
import { createTelemetryRecorder, enqueueTelemetry } from './telemetry/index.ts';
import { fetchShadowAssignment, loadShadow, shadowAdvertised, type LoadedShadow } from './shadow-loader.ts';
import { watchManifests } from './manifest-stream.ts';
import { ShadowSampler, ShadowWindow } from './shadow.ts';
import { flushOutbox } from './training/outbox-flush.ts';
import { enableBackgroundTraining } from './training/background-sync-link.ts';
import { FlockError } from './flock-error.ts';
import { createPredictor, exampleLayout, toExampleVector, type Prediction, type Predictor } from './inference/index.ts';
import { loadActiveModel, syncModel, type LoadedModel } from './model-loader.ts';
import { checkStorageQuota } from './quota.ts';
import { openIndexedDbStore } from './storage/index.ts';
import { activateBackend, setAssetBase } from './tfjs-backends.ts';
import {
  TrainingScheduler,
  inProcessTrainingRunner,
  judgeEligibility,
  startTrainingWorker,
  watchDeviceSignals,
} from './training/index.ts';

/**
 * Connect to a Flock coordinator and get a model ready to predict.
 * @throws FlockError when nothing is cached and no model arrives: 'unreachable' (no answer
 *   within `connectTimeoutMs`, wrong URL, or another origin without `flock serve --cors-origin`),
 *   'no_model' (the coordinator has none for the app), 'rejected' (it refused this device)
 *
 * @example
 * const flock = await connect({ url: 'https://flock.example.com', app: 'digits' });
 * const { label, confidence } = await flock.predict(ctx.getImageData(0, 0, 28, 28));
 * flock.on('model-updated', ({ version }) => console.info('now running', version));
 */
export async function connect(options: ConnectOptions): Promise<Flock> {
  const { app } = options;
  if (options.assetsUrl) setAssetBase(options.assetsUrl);
  const store = options.store ?? (await openIndexedDbStore(options.dbName ?? 'flock'));
  const events = new FlockEvents();
  const capabilities = await probeBackends(browserProbeEnvironment());
  let { backend, reason: backendReason } = await pickBackend(capabilities, options.backend);
  let slowBackend = isSlow(backend, capabilities);
  const failedBackends: BackendName[] = [];
  let manifestEtag: string | null = null;
  let device = await store.getDevice(app);
  const transport = new FlockTransport({ baseUrl: options.url, token: device?.token });

  let current: LoadedModel | null = null;
  let predictor: Predictor | null = null;
  let closed = false;
  let updating: Promise<{ updated: boolean; version: number | null }> | null = null;

  let shadow: LoadedShadow | null = null;
  let shadowWindow: ShadowWindow | null = null;
  const shadowSampler = new ShadowSampler();
  /** Whether the last manifest said its rollout runs a shadow (only then is the shadow route asked). */
  let shadowInManifest = false;
  const telemetry = createTelemetryRecorder(
    options.telemetry
      ? { featureRange: options.telemetry.featureRange, heartbeatMs: options.telemetry.heartbeatMs }
      : {},
  );
  const telemetryOn = options.telemetry !== false;
  /** Moves what telemetry accumulated for the running version into the outbox (and tries to send it). */
  const flushTelemetry = async (send = true) => {
    if (!telemetryOn || !device || !current) return;
    const compared = shadowWindow?.take(new Date().toISOString());
    if (compared) telemetry.extra(compared);
    const batch = telemetry.take({
      deviceId: device.deviceId,
      app,
      modelVersion: current.stored.version,
      rolloutId: current.stored.manifest.rollout?.id,
    });
    if (batch) await enqueueTelemetry(store, options.url, batch);
    if (send && globalThis.navigator?.onLine !== false)
      await flushOutbox({ store, token: device.token, kinds: ['telemetry'] }).catch(() => []);
  };

  const install = (loaded: LoadedModel, fromCache = false) => {
    const old = { predictor, model: current?.model };
    // Telemetry describes one version: close the old version's batch before switching.
    if (telemetryOn && current && current.stored.version !== loaded.stored.version)
      void flushTelemetry(false).catch(() => {});
    current = loaded;
    if (telemetryOn) {
      telemetry.modelLoaded({
        version: loaded.stored.version,
        generation: loaded.stored.manifest.generation,
        encoding: loaded.stored.encoding,
        backend,
        fromCache,
      });
    }
    predictor = createPredictor({
      model: loaded.model,
      inputSpec: loaded.stored.inputSpec,
      batchWindowMs: options.batchWindowMs,
      cacheSize: options.cacheSize,
    });
    old.predictor?.dispose();
    try {
      old.model?.dispose();
    } catch {
      // Weights on a lost GPU device may refuse to be freed; the device took them with it.
    }
  };

  /** Rebuild the active model from the store on the backend now active. */
  const reinstallFromStore = async () => {
    const loaded = await loadActiveModel(store, app);
    if (loaded === null)
      throw new FlockError(
        'no_model',
        `the active model of "${app}" vanished from the store; call checkForUpdate() to download it again`,
      );
    if (closed) return loaded.model.dispose();
    install(loaded);
  };

  const fallBackFrom = async (lost: BackendName, why: string) => {
    failedBackends.push(lost);
    try {
      const choice = await pickBackend(capabilities, undefined, failedBackends);
      backend = choice.backend;
      backendReason = `${choice.reason} (${why})`;
      slowBackend = isSlow(backend, capabilities);
      await reinstallFromStore();
      events.emit('error', {
        error: new FlockError(
          'backend_lost',
          `${why}; Flock switched to ${backend} and rebuilt model ${current?.stored.version} from the device store; predictions continue there`,
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
  };

  /** On webgpu, fall back when the device is lost (reason 'destroyed' too: only tfjs or the page can destroy it). */
  const watchBackend = () => {
    if (backend !== 'webgpu') return;
    const lost = webgpuDeviceLost();
    void lost?.then((info) => {
      if (closed || backend !== 'webgpu') return;
      void fallBackFrom(
        'webgpu',
        `the WebGPU device was lost (${info?.reason ?? 'unknown'}${info?.message ? `: ${info.message}` : ''})`,
      );
    });
  };
  watchBackend();

  const ensureRegistered = async () => {
    if (device) return device;
    const registered = await transport.register({
      app,
      platform: {
        runtime: typeof document === 'undefined' ? 'worker' : 'browser',
        userAgent: globalThis.navigator?.userAgent?.slice(0, 512),
      },
      capabilities: {
        webgpu: capabilities.webgpu.available,
        webgl: capabilities.webgl.available,
        wasmSimd: capabilities.wasm.simd,
        wasmThreads: capabilities.wasm.threads,
        backend,
      },
      protocolVersion: PROTOCOL_VERSION,
    });
    // A page and the service worker share this store and may both register on
    // first start: keep whichever identity was stored first, so cohorts agree.
    const stored = await store.getDevice(app);
    if (stored) {
      device = stored;
      transport.setToken(stored.token);
      return stored;
    }
    device = { app, deviceId: registered.deviceId, token: registered.token };
    await store.putDevice(device);
    return device;
  };

  const update = async (): Promise<{ updated: boolean; version: number | null }> => {
    if (closed) throw new FlockError('closed', 'this Flock was closed; call connect() again');
    await ensureRegistered();
    const result = await syncModel({
      transport,
      store,
      app,
      publicKey: options.publicKey,
      slowBackend,
      variant: options.variant,
      etag: manifestEtag,
      checkQuota: (neededBytes, variant, manifest) =>
        checkStorageQuota(neededBytes, {
          smallerVariant:
            variant.encoding !== 'int8' && manifest.variants.some((v) => v.encoding === 'int8') ? 'int8' : undefined,
        }),
    });
    manifestEtag = result.etag;
    if (result.status === 'updated') shadowInManifest = shadowAdvertised(result.loaded.stored.manifest);
    else if (result.manifest) shadowInManifest = shadowAdvertised(result.manifest);
    // Every update check also looks for a rollout's shadow version (the shadow has its own route).
    void refreshShadow().catch(() => {});
    if (result.status === 'current') return { updated: false, version: result.version };
    if (closed) {
      result.loaded.model.dispose();
      throw new FlockError('closed', 'this Flock was closed during the model update');
    }
    install(result.loaded);
    events.emit('model-updated', {
      app,
      version: result.loaded.stored.version,
      previousVersion: result.previousVersion,
      encoding: result.loaded.stored.encoding,
    });
    return { updated: true, version: result.loaded.stored.version };
  };

  // One update at a time: a background check and an explicit one share the same download.
  const checkForUpdate = () => {
    updating ??= update().finally(() => {
      updating = null;
    });
    return updating.catch((error: unknown) => {
      const err = error instanceof Error ? error : new Error(String(error));
      events.emit('error', { error: err, during: 'model-update' });
      throw err;
    });
  };

  const cached = await loadActiveModel(store, app);
  /** Picks up (or drops) the rollout's shadow version; failures only mean no shadowing. */
  async function refreshShadow(): Promise<void> {
    if (options.shadow === false || backend === 'cpu' || !device || closed) return;
    const assignment = shadowInManifest ? await fetchShadowAssignment(options.url, app, device.token) : null;
    if (assignment?.version === shadow?.version) {
      if (shadow && assignment) shadow.sampleRate = assignment.sampleRate;
      return;
    }
    const old = shadow;
    shadow = null;
    old?.model.dispose();
    if (!assignment) return;
    const key = options.publicKey ?? (await store.getPointer(app)).trustedPublicKey;
    if (!key) return;
    try {
      const loaded = await loadShadow(transport, assignment, key, app, slowBackend);
      if (closed) {
        loaded.model.dispose();
        return;
      }
      shadow = loaded;
      shadowWindow = new ShadowWindow(loaded.version);
    } catch (error) {
      events.emit('error', {
        error: error instanceof Error ? error : new Error(String(error)),
        during: 'model-update',
      });
    }
  }

  /** Runs the shadow on a sampled prediction after it was answered; the shadow's output never reaches the app. */
  const compareWithShadow = async (input: Parameters<Predictor['predict']>[0], production: Prediction) => {
    const running = shadow;
    if (!running || !current || !device || !shadowWindow) return;
    if (!shadowSampler.next(running.sampleRate)) return;
    const vector = await toExampleVector(input, exampleLayout(current.stored.inputSpec));
    const shape = current.stored.inputSpec.shape.map((d) => d ?? 1);
    const started = performance.now();
    const output = tf.tidy(() => (running.model.predict(tf.tensor(vector, shape)) as tf.Tensor).argMax(-1));
    const label = (await output.data())[0];
    output.dispose();
    shadowWindow.add(
      { label: String(production.label), latencyMs: production.latencyMs },
      { label: String(label), latencyMs: performance.now() - started },
    );
  };

  if (cached) {
    install(cached, true);
  } else {
    try {
      await firstDownload(update, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, options.url);
    } catch (error) {
      closed = true;
      await store.close();
      throw firstModelError(error, { app, url: options.url, pageOrigin: globalThis.location?.origin });
    }
  }

  if (options.calibrate && options.backend === undefined) {
    const loaded = current as LoadedModel | null;
    if (loaded !== null) await calibrateOn(loaded);
  }

  const onOnline = () => void checkForUpdate().catch(() => {});
  let pollTimer: ReturnType<typeof setInterval> | null = null;
  let manifestStream: { stop(): void } | null = null;
  if (options.autoUpdate !== false) {
    // Offline start: the cached model answers; look for a newer one once the network is back.
    if (cached) {
      // navigator.onLine may say true while the network is down (some Chromium
      // builds under emulation): a failed first check then waits for 'online'
      // or the next poll; the cached model already answers either way.
      const retryWhenOnline = () => globalThis.addEventListener?.('online', onOnline, { once: true });
      if (globalThis.navigator?.onLine === false) retryWhenOnline();
      else setTimeout(() => void checkForUpdate().catch(() => !closed && retryWhenOnline()), 0);
    }
    // Live changes (rollouts, rollbacks, promotions) arrive over SSE; polling below is the fallback.
    const startStream = () => {
      if (closed || manifestStream || typeof ReadableStream === 'undefined' || typeof TextDecoderStream === 'undefined')
        return;
      manifestStream = watchManifests({
        url: options.url,
        app,
        token: async () => (await ensureRegistered()).token,
        onManifest: ({ generation }) => {
          if (generation !== current?.stored.manifest.generation) void checkForUpdate().catch(() => {});
        },
      });
    };
    // An offline start makes no request at all: the stream opens once the network is back.
    if (globalThis.navigator?.onLine === false) globalThis.addEventListener?.('online', startStream, { once: true });
    else startStream();
    const every = options.updateIntervalMs ?? 15 * 60_000;
    // A failed poll backs off (2, 4, 8 intervals, at most 8) instead of trusting navigator.onLine alone.
    let pollFailures = 0;
    let pollSkipUntil = 0;
    const poll = () => {
      if (globalThis.navigator?.onLine === false || Date.now() < pollSkipUntil) return;
      void checkForUpdate().then(
        () => {
          pollFailures = 0;
          pollSkipUntil = 0;
        },
        () => {
          pollFailures += 1;
          pollSkipUntil = Date.now() + every * (Math.min(8, 2 ** pollFailures) - 1);
        },
      );
    };
    if (every > 0) pollTimer = setInterval(poll, every);
    // In Node simulations the poll must not keep the process alive.
    (pollTimer as { unref?: () => void } | null)?.unref?.();
  }

  /** 'auto': ask the coordinator for the app's active tasks (none when offline: training starts on the next connect). */
  async function resolveTasks(tasks: string[] | 'auto'): Promise<string[]> {
    if (tasks !== 'auto') return tasks;
    try {
      const { token } = await ensureRegistered();
      const res = await fetch(`${options.url.replace(/\/+$/, '')}/v1/apps/${encodeURIComponent(app)}/tasks`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(15_000),
      });
      if (!res.ok) return [];
      return ((await res.json()) as { tasks: Array<{ id: string }> }).tasks.map((t) => t.id);
    } catch {
      return [];
    }
  }

  let telemetryTimer: ReturnType<typeof setInterval> | null = null;
  const onHidden = () => {
    if (globalThis.document?.visibilityState === 'hidden') void flushTelemetry().catch(() => {});
  };
  if (telemetryOn) {
    const every = (options.telemetry && options.telemetry.intervalMs) || 60_000;
    telemetryTimer = setInterval(() => void flushTelemetry().catch(() => {}), every);
    (telemetryTimer as { unref?: () => void }).unref?.();
    globalThis.document?.addEventListener?.('visibilitychange', onHidden);
  }

  let scheduler: TrainingScheduler | null = null;
  let signals: ReturnType<typeof watchDeviceSignals> | null = null;
  const onOnlineFlush = () => void scheduler?.flush({ ignoreBackoff: true }).catch(() => {});
  const trainTasks = options.train ? await resolveTasks(options.train.tasks) : [];
  if (options.train?.background && trainTasks.length > 0 && globalThis.navigator?.serviceWorker?.controller) {
    // Hand the tasks to the page's Flock service worker too, so it trains from sync events when the page is gone.
    void enableBackgroundTraining(trainTasks).catch((error: unknown) => {
      events.emit('error', { error: error instanceof Error ? error : new Error(String(error)), during: 'round' });
    });
  }
  if (options.train && trainTasks.length > 0) {
    const train = options.train;
    let eligibility = train.eligibility;
    if (!eligibility) {
      const watched = (signals = watchDeviceSignals());
      eligibility = async () => judgeEligibility(await watched.read());
    }
    scheduler = new TrainingScheduler({
      app,
      tasks: trainTasks,
      store: offlineAwareOutbox(store),
      transport,
      device: async () => {
        const d = await ensureRegistered();
        return { deviceId: d.deviceId, token: d.token };
      },
      runner: () =>
        typeof Worker === 'undefined'
          ? inProcessTrainingRunner(train.backend ?? backend)
          : startTrainingWorker({
              backend: train.backend ?? backend,
              createWorker: train.createWorker,
              timeoutMs: train.timeoutMs,
            }),
      events,
      eligibility,
      eligibilityPollMs: train.eligibilityPollMs,
      maxExamplesPerRound: train.maxExamplesPerRound,
      runtime: typeof document === 'undefined' ? (typeof Worker === 'undefined' ? 'node' : 'worker') : 'browser',
    });
    globalThis.addEventListener?.('online', onOnlineFlush);
    scheduler.start();
  }

  async function calibrateOn(loaded: LoadedModel) {
    const { exampleShape, dtype } = exampleLayout(loaded.stored.inputSpec);
    const candidates = rankBackends(capabilities).filter((b) => !failedBackends.includes(b));
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
    const choice = chooseBackend({ capabilities, benchmark: bench ?? undefined, exclude: failedBackends });
    await activateBackend(choice.backend);
    const moved = bench !== null && !bench.fromCache; // the benchmark moved the weights between backends
    const changed = choice.backend !== backend;
    backend = choice.backend;
    backendReason = choice.reason;
    slowBackend = isSlow(backend, capabilities);
    if (moved || changed) await reinstallFromStore();
    if (changed) watchBackend();
  }

  const live = () => {
    if (closed || predictor === null || current === null)
      throw new FlockError('closed', 'this Flock was closed; call connect() again');
    return { predictor, current };
  };

  return {
    predict: async (input) => {
      const result = await live().predictor.predict(input);
      if (telemetryOn)
        telemetry.prediction(
          result,
          backend,
          input instanceof Float32Array || Array.isArray(input) ? input : undefined,
        );
      if (shadow) void compareWithShadow(input, result).catch(() => {});
      return result;
    },
    record: async (input, label) => {
      const { current: loaded, predictor: running } = live();
      const vector = await toExampleVector(input, exampleLayout(loaded.stored.inputSpec));
      await store.addExample(app, vector, label);
      // Labelled feedback: was the running model right? (Usually a cache hit: the app just predicted this input.)
      if (telemetryOn) telemetry.feedback((await running.predict(vector)).label, label);
    },
    status: async () => {
      const pointer = await store.getPointer(app);
      const outbox = await store.countOutbox();
      return {
        app,
        deviceId: device?.deviceId ?? null,
        backend,
        backendReason,
        // What this Flock runs (another context sharing the store may have activated another version).
        modelVersion: current?.stored.version ?? pointer.activeVersion,
        previousModelVersion: pointer.previousVersion,
        encoding: current?.stored.encoding ?? null,
        cohort: current?.stored.manifest.rollout?.cohort ?? null,
        pendingUploads: outbox.update,
        examples: await store.countExamples(app),
        trainingBackend: (await scheduler?.trainingBackend()) ?? null,
        privacySpent: scheduler?.privacySpent() ?? {},
      };
    },
    on: (event, listener) => events.on(event, listener),
    checkForUpdate,
    close: async () => {
      if (closed) return;
      if (telemetryTimer !== null) clearInterval(telemetryTimer);
      globalThis.document?.removeEventListener?.('visibilitychange', onHidden);
      await flushTelemetry().catch(() => {});
      closed = true;
      globalThis.removeEventListener?.('online', onOnline);
      if (pollTimer !== null) clearInterval(pollTimer);
      manifestStream?.stop();
      globalThis.removeEventListener?.('online', onOnlineFlush);
      signals?.stop();
      await scheduler?.stop();
      await updating?.catch(() => {});
      predictor?.dispose();
      current?.model.dispose();
      shadow?.model.dispose();
      events.clear();
      await store.close();
    },
  };
}
