/**
 * The Inbox service worker's caching decisions as plain functions. Its
 * caches have their own prefix: the Digits worker (scope `/`) deletes every
 * `flock-shell-*` cache but its own on activate, and the two workers share
 * the origin. Its scope is `/inbox/`, so it sees only the Inbox page's
 * navigations, but the page's scripts, wasm binaries and mails.json are
 * fetched through it from anywhere on the origin.
 */
import type { PrecacheEntry } from '../sw/shell-cache.ts';

export type { PrecacheEntry };

export const INBOX_SHELL_PREFIX = 'flock-inbox-shell-';
/** The page every navigation in the worker's scope falls back to offline. */
export const INBOX_PAGE = '/inbox/index.html';

/**
 * @example
 * inboxShellCacheName('3f9a01') // 'flock-inbox-shell-3f9a01'
 */
export function inboxShellCacheName(shellVersion: string): string {
  return `${INBOX_SHELL_PREFIX}${shellVersion}`;
}

/**
 * Earlier Inbox shells; the Digits shell and anyone else's caches stay.
 *
 * @example
 * staleInboxShells(['flock-inbox-shell-a', 'flock-shell-x'], 'flock-inbox-shell-b') // ['flock-inbox-shell-a']
 */
export function staleInboxShells(cacheNames: readonly string[], current: string): string[] {
  return cacheNames.filter((name) => name.startsWith(INBOX_SHELL_PREFIX) && name !== current);
}

export type InboxRoute = { kind: 'page' } | { kind: 'precached'; url: string } | { kind: 'network' };

/** The coordinator's API: always the network (the SDK keeps models in IndexedDB, never in a cache). */
const API_PREFIXES = ['/v1/', '/healthz', '/metrics', '/openapi.json', '/sdk/'];

/**
 * How the worker answers a GET of its own origin.
 *
 * @example
 * inboxRoute('/inbox/', true, new Set([INBOX_PAGE])) // { kind: 'page' }
 */
export function inboxRoute(pathname: string, isNavigation: boolean, precached: ReadonlySet<string>): InboxRoute {
  if (API_PREFIXES.some((p) => pathname.startsWith(p))) return { kind: 'network' };
  if (isNavigation)
    return pathname === '/inbox' || pathname.startsWith('/inbox/') ? { kind: 'page' } : { kind: 'network' };
  if (precached.has(pathname)) return { kind: 'precached', url: pathname };
  return { kind: 'network' };
}
