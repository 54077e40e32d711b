import { describe, expect, it } from 'vitest';
import { shellCacheName, staleShellCaches } from '../sw/shell-cache.ts';
import { INBOX_PAGE, inboxRoute, inboxShellCacheName, staleInboxShells } from './shell-routes.ts';

describe('Inbox shell cache decisions', () => {
  it('keeps apart from the Digits shell: neither worker deletes the other one cache', () => {
    const inbox = inboxShellCacheName('b');
    const digits = shellCacheName('d');
    expect(staleInboxShells([inboxShellCacheName('a'), inbox, digits, 'other'], inbox)).toEqual([
      inboxShellCacheName('a'),
    ]);
    expect(staleShellCaches([digits, inbox, shellCacheName('c')], digits)).toEqual([shellCacheName('c')]);
  });

  it('answers navigations in its scope with the page, and leaves the API to the network', () => {
    const precached = new Set([INBOX_PAGE, '/assets/inbox.js', '/wasm/tfjs-backend-wasm.wasm']);
    expect(inboxRoute('/inbox/index.html', true, precached)).toEqual({ kind: 'page' });
    expect(inboxRoute('/inbox/', true, precached)).toEqual({ kind: 'page' });
    expect(inboxRoute('/inboxes', true, precached)).toEqual({ kind: 'network' });
    expect(inboxRoute('/v1/apps/inbox/manifest', false, precached)).toEqual({ kind: 'network' });
    expect(inboxRoute('/v1/blobs/abc', true, precached)).toEqual({ kind: 'network' });
    expect(inboxRoute('/assets/inbox.js', false, precached)).toEqual({ kind: 'precached', url: '/assets/inbox.js' });
    expect(inboxRoute('/assets/digits.js', false, precached)).toEqual({ kind: 'network' });
  });
});
