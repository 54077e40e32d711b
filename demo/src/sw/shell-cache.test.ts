import { describe, expect, it } from 'vitest';
import { routeRequest, shellCacheName, staleShellCaches } from './shell-cache.ts';

describe('shell cache decisions', () => {
  it('deletes only earlier shell caches', () => {
    const current = shellCacheName('b');
    expect(staleShellCaches(['flock-shell-a', current, 'someone-else', 'flock-shell-c'], current)).toEqual([
      'flock-shell-a',
      'flock-shell-c',
    ]);
    expect(staleShellCaches([current], current)).toEqual([]);
  });

  it('never answers API or model traffic from the cache', () => {
    const precached = new Set(['/index.html', '/assets/app.js']);
    expect(routeRequest('/v1/blobs/abc', false, precached)).toEqual({ kind: 'network' });
    expect(routeRequest('/v1/apps/digits/manifest', true, precached)).toEqual({ kind: 'network' });
    expect(routeRequest('/healthz', false, precached)).toEqual({ kind: 'network' });
  });

  it('falls back to the right page for navigations and serves precached files', () => {
    const precached = new Set(['/index.html', '/assets/app.js']);
    expect(routeRequest('/', true, precached)).toEqual({ kind: 'navigation', fallback: '/index.html' });
    expect(routeRequest('/dashboard', true, precached)).toEqual({
      kind: 'navigation',
      fallback: '/dashboard/index.html',
    });
    expect(routeRequest('/dashboardish', true, precached)).toEqual({ kind: 'navigation', fallback: '/index.html' });
    expect(routeRequest('/assets/app.js', false, precached)).toEqual({ kind: 'precached', url: '/assets/app.js' });
    expect(routeRequest('/assets/other.js', false, precached)).toEqual({ kind: 'network' });
  });
});
