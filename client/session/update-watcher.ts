/**
 * Model updates: one check at a time (a background check and an explicit one
 * share the same download), triggered by the manifest stream (SSE), by a poll
 * that backs off after failures, and by the network coming back after an
 * offline start. Update checks send the last manifest ETag, so a poll with
 * nothing new is a bodiless 304.
 */
import type { ConnectOptions } from '../connect-types.ts';
import type { FlockEvents } from '../events.ts';
import type { FlockTransport } from '../federated/transport.ts';
import { FlockError } from '../flock-error.ts';
import { watchManifests } from '../manifest-stream.ts';
import { syncModel } from '../model-loader.ts';
import { checkStorageQuota } from '../quota.ts';
import type { ClientStore } from '../storage/index.ts';
import type { DeviceIdentity } from './device-identity.ts';
import type { ModelSession } from './model-session.ts';
import type { ShadowRunner } from './shadow-runner.ts';

export type UpdateResult = { updated: boolean; version: number | null };

export interface UpdateWatcherOptions {
  options: ConnectOptions;
  store: ClientStore;
  transport: FlockTransport;
  session: ModelSession;
  identity: DeviceIdentity;
  shadow: ShadowRunner;
  events: FlockEvents;
}

export class UpdateWatcher {
  readonly #o: UpdateWatcherOptions;
  #etag: string | null = null;
  #updating: Promise<UpdateResult> | null = null;
  #pollTimer: ReturnType<typeof setInterval> | null = null;
  #stream: { stop(): void } | null = null;
  #pollFailures = 0;
  #pollSkipUntil = 0;
  readonly #onOnline = () => void this.checkForUpdate().catch(() => {});
  readonly #startStream = () => this.#openStream();

  constructor(options: UpdateWatcherOptions) {
    this.#o = options;
  }

  /** One check and, when a newer version is assigned, its download and install (no 'error' event). */
  async update(): Promise<UpdateResult> {
    const { options, store, transport, session, identity, shadow, events } = this.#o;
    if (session.closed) throw new FlockError('closed', 'this Flock was closed; call connect() again');
    await identity.ensure();
    const result = await syncModel({
      transport,
      store,
      app: options.app,
      publicKey: options.publicKey,
      slowBackend: session.slowBackend,
      variant: options.variant,
      etag: this.#etag,
      checkQuota: (neededBytes, variant, manifest) =>
        checkStorageQuota(neededBytes, {
          smallerVariant:
            variant.encoding !== 'int8' && manifest.variants.some((v) => v.encoding === 'int8') ? 'int8' : undefined,
        }),
    });
    this.#etag = result.etag;
    if (result.status === 'updated') shadow.noteManifest(result.loaded.stored.manifest);
    else if (result.manifest) shadow.noteManifest(result.manifest);
    // Every update check also looks for a rollout's shadow version (the shadow has its own route).
    void shadow.refresh();
    if (result.status === 'current') return { updated: false, version: result.version };
    if (session.closed) {
      result.loaded.model.dispose();
      throw new FlockError('closed', 'this Flock was closed during the model update');
    }
    session.install(result.loaded);
    events.emit('model-updated', {
      app: options.app,
      version: result.loaded.stored.version,
      previousVersion: result.previousVersion,
      encoding: result.loaded.stored.encoding,
    });
    return { updated: true, version: result.loaded.stored.version };
  }

  /**
   * `Flock.checkForUpdate`: shares a check in flight and resolves once the
   * rollout's shadow version is settled too; failures are also emitted as 'error' events.
   */
  checkForUpdate(): Promise<UpdateResult> {
    this.#updating ??= this.update()
      .then(async (result) => {
        await this.#o.shadow.refreshed();
        return result;
      })
      .finally(() => {
        this.#updating = null;
      });
    return this.#updating.catch((error: unknown) => {
      const err = error instanceof Error ? error : new Error(String(error));
      this.#o.events.emit('error', { error: err, during: 'model-update' });
      throw err;
    });
  }

  /** Starts the stream and the poll; `fromCache`: the model came from the store, so look for a newer one now. */
  start(fromCache: boolean): void {
    const { options, session } = this.#o;
    // Offline start: the cached model answers; look for a newer one once the network is back.
    if (fromCache) {
      // navigator.onLine may say true while the network is down (some Chromium
      // builds under emulation): a failed first check then waits for 'online'
      // or the next poll; the cached model already answers either way.
      const retryWhenOnline = () => globalThis.addEventListener?.('online', this.#onOnline, { once: true });
      if (globalThis.navigator?.onLine === false) retryWhenOnline();
      else setTimeout(() => void this.checkForUpdate().catch(() => !session.closed && retryWhenOnline()), 0);
    }
    // An offline start makes no request at all: the stream opens once the network is back.
    if (globalThis.navigator?.onLine === false)
      globalThis.addEventListener?.('online', this.#startStream, { once: true });
    else this.#openStream();
    const every = options.updateIntervalMs ?? 15 * 60_000;
    if (every > 0) this.#pollTimer = setInterval(() => this.#poll(every), every);
    // In Node simulations the poll must not keep the process alive.
    (this.#pollTimer as { unref?: () => void } | null)?.unref?.();
  }

  /** Stops the stream and the poll and waits for a check in flight to settle. */
  async stop(): Promise<void> {
    globalThis.removeEventListener?.('online', this.#onOnline);
    globalThis.removeEventListener?.('online', this.#startStream);
    if (this.#pollTimer !== null) clearInterval(this.#pollTimer);
    this.#stream?.stop();
    await this.#updating?.catch(() => {});
  }

  /** Live changes (rollouts, rollbacks, promotions) arrive over SSE; polling is the fallback. */
  #openStream(): void {
    const { options, session, identity, transport } = this.#o;
    if (
      session.closed ||
      this.#stream ||
      typeof ReadableStream === 'undefined' ||
      typeof TextDecoderStream === 'undefined'
    )
      return;
    this.#stream = watchManifests({
      transport,
      app: options.app,
      ready: () => identity.ensure(),
      onManifest: ({ generation }) => {
        if (generation !== session.current?.stored.manifest.generation) void this.checkForUpdate().catch(() => {});
      },
    });
  }

  /** A failed poll backs off (2, 4, 8 intervals, at most 8) instead of trusting navigator.onLine alone. */
  #poll(every: number): void {
    if (globalThis.navigator?.onLine === false || Date.now() < this.#pollSkipUntil) return;
    void this.checkForUpdate().then(
      () => {
        this.#pollFailures = 0;
        this.#pollSkipUntil = 0;
      },
      () => {
        this.#pollFailures += 1;
        this.#pollSkipUntil = Date.now() + every * (Math.min(8, 2 ** this.#pollFailures) - 1);
      },
    );
  }
}
