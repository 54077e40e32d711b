/**
 * `connect`: the one call a web app makes. It opens the device's store, picks
 * the tfjs backend, and gets a verified model ready to predict — from
 * IndexedDB with no network request when one is cached (offline start), else
 * from the coordinator. Registration and model updates then run in the
 * background and report problems as 'error' events while the current model
 * keeps answering.
 *
 * The Flock is composed of parts with their own lifetimes (client/session/):
 * the device identity, the model session (backend, predictor, WebGPU
 * fallback, calibration), the update watcher (SSE, poll, ETags), the shadow
 * runner, the telemetry pump and the training session. close() stops them in
 * reverse order of what they depend on.
 */
import { browserProbeEnvironment, probeBackends } from './backends/select.ts';
import { pickBackend } from './backend-runtime.ts';
import type { ConnectOptions, Flock } from './connect-types.ts';

export type { ConnectOptions, Flock, FlockStatus, TrainOptions } from './connect-types.ts';
import { FlockEvents } from './events.ts';
import { FlockTransport } from './federated/transport.ts';
import { DEFAULT_CONNECT_TIMEOUT_MS, firstDownload, firstModelError } from './first-model-error.ts';
import { loadActiveModel } from './model-loader.ts';
import { DeviceIdentity } from './session/device-identity.ts';
import { inferenceCalls } from './session/inference-calls.ts';
import { ModelSession } from './session/model-session.ts';
import { ShadowRunner } from './session/shadow-runner.ts';
import { TelemetryPump } from './session/telemetry-pump.ts';
import { TrainingSession } from './session/training-session.ts';
import { UpdateWatcher } from './session/update-watcher.ts';
import { openIndexedDbStore } from './storage/index.ts';
import { setAssetBase } from './tfjs-backends.ts';

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
  const { app, url } = options;
  if (options.assetsUrl) setAssetBase(options.assetsUrl);
  const store = options.store ?? (await openIndexedDbStore(options.dbName ?? 'flock'));
  const events = new FlockEvents();
  const capabilities = await probeBackends(browserProbeEnvironment());
  const picked = await pickBackend(capabilities, options.backend);
  const transport = new FlockTransport({ baseUrl: url });
  let session: ModelSession | null = null;
  const identity = new DeviceIdentity(
    { app, store, transport, capabilities, backend: () => session?.backend ?? picked.backend },
    (await store.getDevice(app)) ?? null,
  );
  const telemetry = new TelemetryPump({ app, url, store, telemetry: options.telemetry, identity, transport });
  session = new ModelSession({
    app,
    store,
    events,
    capabilities,
    backend: picked,
    batchWindowMs: options.batchWindowMs,
    cacheSize: options.cacheSize,
    onInstall: (loaded, previous, fromCache) => telemetry.modelInstalled(loaded, previous, fromCache),
  });
  const model = session;
  const shadow = new ShadowRunner({
    enabled: options.shadow !== false,
    app,
    publicKey: options.publicKey,
    store,
    transport,
    session: model,
    identity,
    events,
  });
  telemetry.attach(model, shadow);
  const updates = new UpdateWatcher({ options, store, transport, session: model, identity, shadow, events });

  const cached = await loadActiveModel(store, app);
  if (cached) {
    model.install(cached, true);
  } else {
    try {
      await firstDownload(() => updates.update(), options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, url);
    } catch (error) {
      model.closed = true;
      await store.close();
      throw firstModelError(error, { app, url, pageOrigin: globalThis.location?.origin });
    }
  }
  if (options.calibrate && options.backend === undefined) await model.calibrate();
  if (options.autoUpdate !== false) updates.start(cached !== null);
  telemetry.start();
  const training = await TrainingSession.start({ options, store, transport, session: model, identity, events });

  return {
    ...inferenceCalls({ app, store, session: model, telemetry, shadow }),
    status: async () => {
      const pointer = await store.getPointer(app);
      const outbox = await store.countOutbox();
      const current = model.current;
      return {
        app,
        deviceId: identity.current?.deviceId ?? null,
        backend: model.backend,
        backendReason: model.backendReason,
        // What this Flock runs (another context sharing the store may have activated another version).
        modelVersion: current?.stored.version ?? pointer.activeVersion,
        previousModelVersion: pointer.previousVersion,
        encoding: current?.stored.encoding ?? null,
        cohort: current?.stored.manifest.rollout?.cohort ?? null,
        shadowVersion: shadow.version,
        pendingUploads: outbox.update,
        examples: await store.countExamples(app),
        trainingBackend: await training.trainingBackend(),
        privacySpent: training.privacySpent(),
      };
    },
    on: (event, listener) => events.on(event, listener),
    checkForUpdate: () => updates.checkForUpdate(),
    close: async () => {
      if (model.closed) return;
      await telemetry.stop();
      model.closed = true;
      await Promise.all([updates.stop(), training.stop()]);
      model.dispose();
      shadow.dispose();
      events.clear();
      await store.close();
    },
  };
}
