/**
 * The demo's service worker, hand-written rather than Workbox-generated:
 * only workbox-window is installed, and the job is small — precache the app
 * shell listed at build time, answer navigations from it when offline, drop
 * older shells on activate. Model shards are never cached here (the SDK keeps
 * them in IndexedDB).
 *
 * It is also a Flock client: pages ask it for predictions by message
 * (`shared/sw-protocol`), and it answers with the same client core a page
 * uses, on the same IndexedDB store, connected lazily on the first request.
 *
 * Background sync: a `flock-outbox` sync replays the update outbox; a
 * `flock-train` sync or periodic sync takes part in one round of each task a
 * page named (`train-config` message, kept in a small cache so it outlives the
 * worker), training in-process because a service worker has no Web Workers.
 * The update is in the outbox before its upload, so a worker the browser kills
 * after training loses nothing.
 *
 * @example
 * // window side (demo/src/digits/service-worker-link.ts)
 * const wb = new Workbox('/sw.js'); await wb.register();
 */
import { connect, openIndexedDbStore, tf, type Flock } from '../client/index.ts';
import { replayOutbox, runBackgroundRound } from '../client/training/background-round.ts';
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
} from '../shared/sw-protocol/index.ts';
import { loadBackgroundTasks, saveBackgroundTasks } from './background-tasks.ts';
import { routeRequest, shellCacheName, staleShellCaches, type PrecacheEntry } from './shell-cache.ts';

/** Replaced at build time (demo/build/service-worker-build.ts) by the shell's file list. */
declare const __FLOCK_PRECACHE__: { version: string; entries: PrecacheEntry[] };

const sw = globalThis as unknown as ServiceWorkerGlobalScope;
const SHELL = __FLOCK_PRECACHE__;
const CACHE = shellCacheName(SHELL.version);
const PRECACHED = new Set(SHELL.entries.map((e) => e.url));
const APP = 'digits';
/** tfjs wasm binaries ship in the shell, so the worker's backend works offline. */
const WASM_DIR = '/wasm/';
const NAVIGATION_TIMEOUT_MS = 3000;

sw.addEventListener('install', (event) => {
  // `cache: 'reload'` so a shell is never assembled from stale HTTP-cache entries.
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL.entries.map((e) => new Request(e.url, { cache: 'reload' })))));
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const stale = staleShellCaches(await caches.keys(), CACHE);
      await Promise.all(stale.map((name) => caches.delete(name)));
      await sw.clients.claim();
    })(),
  );
});

async function fromNetworkOrShell(request: Request, fallback: string): Promise<Response> {
  const cached = caches.open(CACHE).then((c) => c.match(fallback));
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise<never>((_, fail) => setTimeout(() => fail(new Error('navigation timed out')), NAVIGATION_TIMEOUT_MS)),
    ]);
    if (response.ok) return response;
    return (await cached) ?? response;
  } catch (error) {
    const shell = await cached;
    if (shell) return shell;
    throw error;
  }
}

async function fromShellOrNetwork(request: Request, url: string): Promise<Response> {
  const hit = await (await caches.open(CACHE)).match(url);
  return hit ?? fetch(request);
}

sw.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== sw.location.origin) return;
  const route = routeRequest(url.pathname, request.mode === 'navigate', PRECACHED);
  if (route.kind === 'navigation') event.respondWith(fromNetworkOrShell(request, route.fallback));
  else if (route.kind === 'precached') event.respondWith(fromShellOrNetwork(request, route.url));
});

// ---- the service-worker Flock client ----

let flock: Promise<Flock> | null = null;

function flockClient(): Promise<Flock> {
  if (flock === null) {
    // A service worker cannot start Web Workers, so tfjs must not pick the threaded wasm build.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    flock = connect({ url: sw.location.origin, app: APP, assetsUrl: WASM_DIR });
    flock.catch(() => {
      flock = null; // try again on the next request (e.g. once the coordinator has a model)
    });
  }
  return flock;
}

function replyMeta(id: string): SwReplyMeta {
  return { id, answeredBy: 'service-worker', shellVersion: SHELL.version };
}

function errorReply(id: string, code: SwErrorCode, message: string): SwReply {
  return { type: 'error', meta: replyMeta(id), payload: { code, message } };
}

async function answer(request: SwRequest): Promise<SwReply> {
  const id = request.meta.id;
  let client: Flock;
  try {
    client = await flockClient();
  } catch (error) {
    return errorReply(id, 'no_model', `the service worker has no model yet: ${error instanceof Error ? error.message : String(error)}`);
  }
  const status = await client.status();
  if (request.type === 'status') {
    return { type: 'status-result', meta: replyMeta(id), payload: { backend: status.backend, modelVersion: status.modelVersion, connected: true } };
  }
  try {
    const started = performance.now();
    const p = await client.predict(Float32Array.from(request.payload.input));
    const latencyMs = performance.now() - started;
    return {
      type: 'predict-result',
      meta: replyMeta(id),
      payload: { label: p.label, confidence: p.confidence, probabilities: Array.from(p.probabilities), backend: status.backend, modelVersion: status.modelVersion, latencyMs },
    };
  } catch (error) {
    return errorReply(id, 'predict_failed', error instanceof Error ? error.message : String(error));
  }
}

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
    const reply: SwTrainConfigReply = { type: 'train-config-result', meta: replyMeta(data.meta.id), payload: { tasks } };
    event.waitUntil(saveBackgroundTasks(tasks).then(() => port.postMessage(reply), (error: unknown) => port.postMessage(errorReply(data.meta.id, 'bad_request', `could not keep the task ids: ${String(error)}`))));
    return;
  }
  if (!isSwRequest(data)) {
    const id = typeof data === 'object' && data !== null && typeof (data as { meta?: { id?: unknown } }).meta?.id === 'string' ? String((data as { meta: { id: string } }).meta.id) : '';
    port.postMessage(errorReply(id, 'bad_request', 'expected { type: "predict" | "status", meta: { id, sentAt }, payload } (see shared/sw-protocol)'));
    return;
  }
  event.waitUntil(answer(data).then((reply) => port.postMessage(reply)));
});

// ---- background sync ----

/** Chromium ends a sync event after about 5 minutes; stop a little before. */
const SYNC_TIME_CAP_MS = 4 * 60_000;

/** SyncEvent / PeriodicSyncEvent are not in TypeScript's webworker lib. */
interface TaggedExtendableEvent extends ExtendableEvent {
  readonly tag: string;
}

async function backgroundTrain(): Promise<void> {
  const tasks = await loadBackgroundTasks();
  if (tasks.length === 0) return; // no page asked for background training
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const store = await openIndexedDbStore('flock');
  try {
    const outcomes = await runBackgroundRound({ url: sw.location.origin, app: APP, tasks, store, backend: 'wasm', assetsUrl: WASM_DIR, timeCapMs: SYNC_TIME_CAP_MS });
    console.info('[flock sw] background round', JSON.stringify(outcomes));
  } finally {
    await store.close();
  }
}

async function backgroundReplay(): Promise<void> {
  const store = await openIndexedDbStore('flock');
  try {
    // A rescheduled entry makes the sync fail, so the browser retries it later with its own backoff.
    const outcomes = await replayOutbox({ store, app: APP });
    if (outcomes.some((o) => o.status === 'rescheduled')) throw new Error('some updates could not be sent yet');
  } finally {
    await store.close();
  }
}

function onTaggedSync(event: Event): void {
  const e = event as TaggedExtendableEvent;
  if (e.tag === TRAIN_SYNC_TAG) e.waitUntil(backgroundTrain());
  else if (e.tag === OUTBOX_SYNC_TAG) e.waitUntil(backgroundReplay());
}

sw.addEventListener('sync', onTaggedSync);
sw.addEventListener('periodicsync', onTaggedSync);
