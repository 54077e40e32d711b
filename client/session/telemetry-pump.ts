/**
 * Telemetry for the running version: a recorder fed by predict() and
 * record(), and a pump that moves what accumulated into the outbox (every
 * interval, when the page is hidden, before a version switch and at close)
 * and tries to send it.
 */
import type { ConnectOptions } from '../connect-types.ts';
import type { FlockTransport } from '../federated/transport.ts';
import type { LoadedModel } from '../model-loader.ts';
import type { ClientStore } from '../storage/index.ts';
import { createTelemetryRecorder, enqueueTelemetry, type TelemetryRecorder } from '../telemetry/index.ts';
import { flushOutbox } from '../training/outbox-flush.ts';
import type { DeviceIdentity } from './device-identity.ts';
import type { ModelSession } from './model-session.ts';
import type { ShadowRunner } from './shadow-runner.ts';

export interface TelemetryPumpOptions {
  app: string;
  url: string;
  store: ClientStore;
  /** `connect({ telemetry })`: false turns telemetry off. */
  telemetry: ConnectOptions['telemetry'];
  identity: DeviceIdentity;
  /** Carries the device token once the identity is known. */
  transport: FlockTransport;
}

export class TelemetryPump {
  /** False when the app turned telemetry off: nothing is recorded or sent. */
  readonly on: boolean;
  readonly recorder: TelemetryRecorder;
  readonly #options: TelemetryPumpOptions;
  readonly #onHidden = () => {
    if (globalThis.document?.visibilityState === 'hidden') void this.flush().catch(() => {});
  };
  #session: ModelSession | null = null;
  #shadow: ShadowRunner | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(options: TelemetryPumpOptions) {
    this.#options = options;
    const settings = options.telemetry;
    this.on = settings !== false;
    this.recorder = createTelemetryRecorder(
      settings ? { featureRange: settings.featureRange, heartbeatMs: settings.heartbeatMs } : {},
    );
  }

  /** The model session and shadow whose telemetry this pump sends (the session is built after the pump). */
  attach(session: ModelSession, shadow: ShadowRunner): void {
    this.#session = session;
    this.#shadow = shadow;
  }

  /** Called by the model session before `loaded` replaces `previous`. */
  modelInstalled(loaded: LoadedModel, previous: LoadedModel | null, fromCache: boolean): void {
    if (!this.on) return;
    // Telemetry describes one version: close the old version's batch before switching.
    if (previous && previous.stored.version !== loaded.stored.version) void this.flush(false, previous).catch(() => {});
    this.recorder.modelLoaded({
      version: loaded.stored.version,
      generation: loaded.stored.manifest.generation,
      encoding: loaded.stored.encoding,
      backend: this.#session?.backend ?? 'cpu',
      fromCache,
    });
  }

  /** Moves what telemetry accumulated for `model` into the outbox (and, with `send`, tries to send it). */
  async flush(send = true, model: LoadedModel | null = this.#session?.current ?? null): Promise<void> {
    const { app, url, store, identity, transport } = this.#options;
    const device = identity.current;
    if (!this.on || !device || !model) return;
    const compared = this.#shadow?.takeComparison(new Date().toISOString());
    if (compared) this.recorder.extra(compared);
    const batch = this.recorder.take({
      deviceId: device.deviceId,
      app,
      modelVersion: model.stored.version,
      rolloutId: model.stored.manifest.rollout?.id,
    });
    if (batch) await enqueueTelemetry(store, url, batch);
    if (send && globalThis.navigator?.onLine !== false)
      await flushOutbox({ store, transport, kinds: ['telemetry'] }).catch(() => []);
  }

  /** Starts the interval flush and the flush on hiding the page. */
  start(): void {
    if (!this.on) return;
    const settings = this.#options.telemetry;
    const every = (settings && settings.intervalMs) || 60_000;
    this.#timer = setInterval(() => void this.flush().catch(() => {}), every);
    (this.#timer as { unref?: () => void }).unref?.();
    globalThis.document?.addEventListener?.('visibilitychange', this.#onHidden);
  }

  /** Stops the pump and sends what is left. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    globalThis.document?.removeEventListener?.('visibilitychange', this.#onHidden);
    await this.#shadow?.settled(); // comparisons still running belong in the last batch
    await this.flush().catch(() => {});
  }
}
