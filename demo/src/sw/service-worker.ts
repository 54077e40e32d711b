/**
 * The Digits demo's service worker: its own app shell (precached at build
 * time, navigations answered from it when offline, older shells dropped on
 * activate), plus the Flock client every app's worker can have
 * (`startFlockServiceWorker`: predictions by message, background training and
 * outbox replay). Hand-written rather than Workbox-generated: only
 * workbox-window is installed, and the shell part is small.
 *
 * @example
 * // window side (demo/src/digits/service-worker-link.ts)
 * const wb = new Workbox('/sw.js'); await wb.register();
 */
import { startFlockServiceWorker } from '../../../client/service-worker/flock-service-worker.ts';
import { routeRequest, shellCacheName, staleShellCaches, type PrecacheEntry } from './shell-cache.ts';

/** Replaced at build time (demo/build/pwa-assets.ts) by the shell's file list. */
declare const __FLOCK_PRECACHE__: { version: string; entries: PrecacheEntry[] };

const sw = globalThis as unknown as ServiceWorkerGlobalScope;
const SHELL = __FLOCK_PRECACHE__;
const CACHE = shellCacheName(SHELL.version);
const PRECACHED = new Set(SHELL.entries.map((e) => e.url));
const NAVIGATION_TIMEOUT_MS = 3000;

sw.addEventListener('install', (event) => {
  // `cache: 'reload'` so a shell is never assembled from stale HTTP-cache entries.
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL.entries.map((e) => new Request(e.url, { cache: 'reload' })))),
  );
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

// tfjs wasm binaries ship in the shell (/wasm/), so the worker's backend works offline.
startFlockServiceWorker({ app: 'digits', assetsUrl: '/wasm/', shellVersion: SHELL.version });
