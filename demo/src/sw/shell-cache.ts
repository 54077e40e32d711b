/**
 * The service worker's caching decisions as plain functions: which cache a
 * build uses, which caches are stale, which requests it answers and from
 * where. Model shards are never cached here: the SDK keeps them, verified and
 * versioned, in IndexedDB, and a second copy would break rollback accounting.
 */

/** One app-shell file, with a content hash as its revision. */
export interface PrecacheEntry {
  url: string;
  revision: string;
}

export const SHELL_CACHE_PREFIX = 'flock-shell-';

/**
 * The cache name of a build: a new shell gets a new cache; the old one is deleted on activate.
 *
 * @example
 * shellCacheName('3f9a01') // 'flock-shell-3f9a01'
 */
export function shellCacheName(shellVersion: string): string {
  return `${SHELL_CACHE_PREFIX}${shellVersion}`;
}

/**
 * Caches of earlier shells (ours only: other caches of the origin are left alone).
 *
 * @example
 * staleShellCaches(await caches.keys(), 'flock-shell-b') // ['flock-shell-a']
 */
export function staleShellCaches(cacheNames: readonly string[], current: string): string[] {
  return cacheNames.filter((name) => name.startsWith(SHELL_CACHE_PREFIX) && name !== current);
}

/** Paths that belong to the coordinator's API and must always reach the network. */
const API_PREFIXES = ['/v1/', '/healthz', '/metrics', '/openapi.json', '/sdk/'];

export type ShellRoute =
  | { kind: 'precached'; url: string }
  | { kind: 'navigation'; fallback: string }
  | { kind: 'network' };

/**
 * How the worker answers a GET request of its own origin.
 *
 * @example
 * routeRequest('/dashboard/rounds', true, new Set(['/index.html'])) // { kind: 'navigation', fallback: '/dashboard/index.html' }
 */
export function routeRequest(pathname: string, isNavigation: boolean, precached: ReadonlySet<string>): ShellRoute {
  if (API_PREFIXES.some((p) => pathname.startsWith(p))) return { kind: 'network' };
  if (isNavigation)
    return {
      kind: 'navigation',
      fallback:
        pathname === '/dashboard' || pathname.startsWith('/dashboard/') ? '/dashboard/index.html' : '/index.html',
    };
  if (precached.has(pathname)) return { kind: 'precached', url: pathname };
  return { kind: 'network' };
}
