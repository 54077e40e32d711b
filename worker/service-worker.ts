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
 * Background-sync replay of the outbox is not wired: the SDK exposes no flush.
 *
 * @example
 * // window side (demo/src/digits/service-worker-link.ts)
 * const wb = new Workbox('/sw.js'); await wb.register();
 */
import { connect, tf, type Flock } from '../client/index.ts';
import { SKIP_WAITING, isSwRequest, type SwErrorCode, type SwReply, type SwReplyMeta, type SwRequest } from '../shared/sw-protocol/index.ts';
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
  if (!isSwRequest(data)) {
    const id = typeof data === 'object' && data !== null && typeof (data as { meta?: { id?: unknown } }).meta?.id === 'string' ? String((data as { meta: { id: string } }).meta.id) : '';
    port.postMessage(errorReply(id, 'bad_request', 'expected { type: "predict" | "status", meta: { id, sentAt }, payload } (see shared/sw-protocol)'));
    return;
  }
  event.waitUntil(answer(data).then((reply) => port.postMessage(reply)));
});
