/**
 * The Inbox page's service worker (`/inbox/sw.js`, scope `/inbox/`): its app
 * shell (the page, its scripts, mails.json and the tfjs wasm binaries,
 * precached at install, navigations answered from it when the network is
 * gone) and the SDK's service-worker client for app 'inbox' (outbox replay
 * and background training from sync events), imported by the package name
 * as any app would.
 */
import { startFlockServiceWorker } from 'flock-ml';
import { INBOX_PAGE, inboxRoute, inboxShellCacheName, staleInboxShells, type PrecacheEntry } from './shell-routes.ts';

/** Replaced at build time (demo/build/inbox-assets.ts) by the Inbox shell's file list. */
declare const __INBOX_PRECACHE__: { version: string; entries: PrecacheEntry[] };

const sw = globalThis as unknown as ServiceWorkerGlobalScope;
const SHELL = __INBOX_PRECACHE__;
const CACHE = inboxShellCacheName(SHELL.version);
const PRECACHED = new Set(SHELL.entries.map((e) => e.url));
const NAVIGATION_TIMEOUT_MS = 3000;

sw.addEventListener('install', (event) => {
  // `cache: 'reload'`: a shell is never assembled from stale HTTP-cache entries.
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL.entries.map((e) => new Request(e.url, { cache: 'reload' })))),
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      await Promise.all(staleInboxShells(await caches.keys(), CACHE).map((name) => caches.delete(name)));
      await sw.clients.claim();
    })(),
  );
});

async function pageFromNetworkOrShell(request: Request): Promise<Response> {
  const cached = caches.open(CACHE).then((c) => c.match(INBOX_PAGE));
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise<never>((_, fail) => setTimeout(() => fail(new Error('navigation timed out')), NAVIGATION_TIMEOUT_MS)),
    ]);
    return response.ok ? response : ((await cached) ?? response);
  } catch (error) {
    const shell = await cached;
    if (shell) return shell;
    throw error;
  }
}

async function fromShellOrNetwork(request: Request, url: string): Promise<Response> {
  return (await (await caches.open(CACHE)).match(url)) ?? fetch(request);
}

sw.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== sw.location.origin) return;
  const route = inboxRoute(url.pathname, request.mode === 'navigate', PRECACHED);
  if (route.kind === 'page') event.respondWith(pageFromNetworkOrShell(request));
  else if (route.kind === 'precached') event.respondWith(fromShellOrNetwork(request, route.url));
});

startFlockServiceWorker({ app: 'inbox', assetsUrl: '/wasm/', shellVersion: SHELL.version });
