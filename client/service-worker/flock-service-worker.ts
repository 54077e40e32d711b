/**
 * A Flock client inside any app's service worker. Pages ask it for
 * predictions by message (`shared/sw-protocol`) and it answers with the same
 * client core a page uses, on the same IndexedDB store, connected lazily on
 * the first request. A `flock-outbox` sync replays the update outbox; a
 * `flock-train` sync or periodic sync takes part in one round of each task a
 * page named (`enableBackgroundTraining`, kept in Cache Storage so it outlives
 * the worker), training in-process because a service worker has no Web
 * Workers. The update is in the outbox before its upload, so a worker the
 * browser kills after training loses nothing.
 *
 * Caching the app's own shell is the app's business (Workbox, or a few lines
 * like the Digits demo's `demo/src/sw/service-worker.ts`); model shards never
 * go to Cache Storage (the SDK keeps them in IndexedDB).
 *
 * @example
 * // sw.js of any app, with the script-tag SDK beside it:
 * importScripts('/sdk/flock.min.js');
 * Flock.startFlockServiceWorker({ app: 'inbox', assetsUrl: '/sdk/' });
 * // or, bundled: import { startFlockServiceWorker } from 'flock/client';
 */
import * as tf from '@tensorflow/tfjs';
import {
  OUTBOX_SYNC_TAG,
  SKIP_WAITING,
  TRAIN_SYNC_TAG,
  isSwRequest,
  isSwTrainConfigRequest,
  type SwErrorCode,
  type SwReply,
  type SwReplyMeta,
  type SwRequest,
  type SwTrainConfigReply,
} from '../../shared/sw-protocol/index.ts';
import { connect } from '../connect.ts';
import type { Flock } from '../connect-types.ts';
import { openIndexedDbStore } from '../storage/index.ts';
import { replayOutbox, runBackgroundRound } from '../training/background-round.ts';
import { loadBackgroundTasks, saveBackgroundTasks } from './background-tasks.ts';

export interface FlockServiceWorkerOptions {
  /** The app whose model this worker serves (the same name the pages connect with). */
  app: string;
  /** Coordinator URL (default: the worker's own origin). */
  url?: string;
  /** Folder of the tfjs wasm files, ending in '/' (e.g. '/sdk/' beside flock.min.js); cache them with the shell to work offline. */
  assetsUrl: string;
  /** IndexedDB database shared with the pages (default 'flock'). */
  dbName?: string;
  /** Stamped on every reply's meta (e.g. the shell build), so pages can tell which worker answered. */
  shellVersion?: string;
  /** Longest background round, in ms (default 4 min: Chromium ends a sync event after about 5). */
  syncTimeCapMs?: number;
}

/** SyncEvent / PeriodicSyncEvent are not in TypeScript's webworker lib. */
interface TaggedExtendableEvent extends ExtendableEvent {
  readonly tag: string;
}

/**
 * Installs the message and sync handlers on the service worker's global scope.
 * Call it once, at the top level of the worker script (handlers must be added
 * during the worker's first evaluation).
 *
 * @throws TypeError outside a service worker, or without an app name
 */
export function startFlockServiceWorker(options: FlockServiceWorkerOptions): void {
  const sw = globalThis as unknown as ServiceWorkerGlobalScope;
  if (typeof (globalThis as { ServiceWorkerGlobalScope?: unknown }).ServiceWorkerGlobalScope === 'undefined') {
    throw new TypeError('startFlockServiceWorker runs in a service worker script; in a page use connect()');
  }
  if (!options.app) throw new TypeError('startFlockServiceWorker needs the app name the pages connect with');
  const { app, assetsUrl } = options;
  const url = options.url ?? sw.location.origin;
  const dbName = options.dbName ?? 'flock';
  const timeCapMs = options.syncTimeCapMs ?? 4 * 60_000;
  // A service worker cannot start Web Workers, so tfjs must not pick the threaded wasm build.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

  let flock: Promise<Flock> | null = null;
  const flockClient = (): Promise<Flock> => {
    if (flock === null) {
      flock = connect({ url, app, assetsUrl, dbName });
      flock.catch(() => {
        flock = null; // try again on the next request (e.g. once the coordinator has a model)
      });
    }
    return flock;
  };

  const replyMeta = (id: string): SwReplyMeta => ({
    id,
    answeredBy: 'service-worker',
    shellVersion: options.shellVersion ?? '',
  });
  const errorReply = (id: string, code: SwErrorCode, message: string): SwReply => ({
    type: 'error',
    meta: replyMeta(id),
    payload: { code, message },
  });

  const answer = async (request: SwRequest): Promise<SwReply> => {
    const id = request.meta.id;
    let client: Flock;
    try {
      client = await flockClient();
    } catch (error) {
      return errorReply(
        id,
        'no_model',
        `the service worker has no model of "${app}" yet: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const status = await client.status();
    if (request.type === 'status') {
      return {
        type: 'status-result',
        meta: replyMeta(id),
        payload: { backend: status.backend, modelVersion: status.modelVersion, connected: true },
      };
    }
    try {
      const started = performance.now();
      const p = await client.predict(Float32Array.from(request.payload.input));
      const latencyMs = performance.now() - started;
      return {
        type: 'predict-result',
        meta: replyMeta(id),
        payload: {
          label: p.label,
          confidence: p.confidence,
          probabilities: Array.from(p.probabilities),
          backend: status.backend,
          modelVersion: status.modelVersion,
          latencyMs,
        },
      };
    } catch (error) {
      return errorReply(id, 'predict_failed', error instanceof Error ? error.message : String(error));
    }
  };

  sw.addEventListener('message', (event) => {
    const data: unknown = event.data;
    if (typeof data === 'object' && data !== null && (data as { type?: unknown }).type === SKIP_WAITING) {
      void sw.skipWaiting();
      return;
    }
    const port = event.ports[0];
    if (!port) return; // nowhere to answer: not one of our requests
    if (isSwTrainConfigRequest(data)) {
      const { tasks } = data.payload;
      const reply: SwTrainConfigReply = {
        type: 'train-config-result',
        meta: replyMeta(data.meta.id),
        payload: { tasks },
      };
      event.waitUntil(
        saveBackgroundTasks(app, tasks).then(
          () => port.postMessage(reply),
          (error: unknown) =>
            port.postMessage(errorReply(data.meta.id, 'bad_request', `could not keep the task ids: ${String(error)}`)),
        ),
      );
      return;
    }
    if (!isSwRequest(data)) {
      const id =
        typeof data === 'object' && data !== null && typeof (data as { meta?: { id?: unknown } }).meta?.id === 'string'
          ? String((data as { meta: { id: string } }).meta.id)
          : '';
      port.postMessage(
        errorReply(
          id,
          'bad_request',
          'expected { type: "predict" | "status", meta: { id, sentAt }, payload } (see shared/sw-protocol)',
        ),
      );
      return;
    }
    event.waitUntil(answer(data).then((reply) => port.postMessage(reply)));
  });

  const backgroundTrain = async (): Promise<void> => {
    const tasks = await loadBackgroundTasks(app);
    if (tasks.length === 0) return; // no page asked for background training
    const store = await openIndexedDbStore(dbName);
    try {
      const outcomes = await runBackgroundRound({ url, app, tasks, store, backend: 'wasm', assetsUrl, timeCapMs });
      console.info('[flock sw] background round', JSON.stringify(outcomes));
    } finally {
      await store.close();
    }
  };

  const backgroundReplay = async (): Promise<void> => {
    const store = await openIndexedDbStore(dbName);
    try {
      // A rescheduled entry makes the sync fail, so the browser retries it later with its own backoff.
      const outcomes = await replayOutbox({ url, store, app });
      if (outcomes.some((o) => o.status === 'rescheduled')) throw new Error('some updates could not be sent yet');
    } finally {
      await store.close();
    }
  };

  const onTaggedSync = (event: Event): void => {
    const e = event as TaggedExtendableEvent;
    if (e.tag === TRAIN_SYNC_TAG) e.waitUntil(backgroundTrain());
    else if (e.tag === OUTBOX_SYNC_TAG) e.waitUntil(backgroundReplay());
  };
  sw.addEventListener('sync', onTaggedSync);
  sw.addEventListener('periodicsync', onTaggedSync);
}
