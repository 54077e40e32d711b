import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { staticSite } from '../static/index.ts';

let dir: string;
let flock: Coordinator;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flock-headers-'));
  flock = await createCoordinator({
    dataDir: join(dir, 'data'),
    log: pino({ level: 'silent' }),
    sweep: false,
    aggregationBackend: 'cpu',
  });
});
afterAll(async () => {
  await flock?.close();
  rmSync(dir, { recursive: true, force: true });
});

function expectHardened(res: Response) {
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
}

describe('security headers', () => {
  it('are on API answers, errors included', async () => {
    expectHardened(await flock.app.request('/healthz'));
    expectHardened(await flock.app.request('/v1/admin/tasks'));
    expectHardened(await flock.app.request('/no/such/route'));
  });

  it('are on demo pages and SDK files, which stay loadable from other origins', async () => {
    const dist = join(dir, 'dist');
    mkdirSync(join(dist, 'demo'), { recursive: true });
    mkdirSync(join(dist, 'flock'), { recursive: true });
    writeFileSync(join(dist, 'demo', 'index.html'), '<!doctype html><title>demo</title>');
    writeFileSync(join(dist, 'flock', 'flock.min.js'), 'var Flock = {};');
    const site = staticSite(flock.app, { distDir: dist });
    expectHardened(await site.app.request('/'));
    const sdk = await site.app.request('/sdk/flock.min.js');
    expect(sdk.status).toBe(200);
    expectHardened(sdk);
    expect(sdk.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expectHardened(await site.app.request('/healthz'));
  });

  it('give pages and scripts a policy with no inline script and no eval, and JSON only frame-ancestors', async () => {
    const dist = join(dir, 'dist-csp');
    mkdirSync(join(dist, 'demo', 'dashboard'), { recursive: true });
    writeFileSync(join(dist, 'demo', 'index.html'), '<!doctype html><title>demo</title>');
    writeFileSync(join(dist, 'demo', 'dashboard', 'index.html'), '<!doctype html><title>dashboard</title>');
    writeFileSync(join(dist, 'demo', 'sw.js'), 'self.addEventListener("fetch", () => {});');
    const site = staticSite(flock.app, { distDir: dist });
    for (const path of ['/', '/dashboard', '/sw.js']) {
      const policy = (await site.app.request(path)).headers.get('content-security-policy') ?? '';
      const scripts =
        policy
          .split(';')
          .map((d) => d.trim())
          .find((d) => d.startsWith('script-src')) ?? '';
      expect(scripts, path).toBe("script-src 'self' blob: 'wasm-unsafe-eval'");
      expect(policy, path).toContain("object-src 'none'");
      expect(policy, path).toContain("frame-ancestors 'none'");
    }
    expect((await site.app.request('/healthz')).headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
  });

  it('answer a malformed percent-encoding with 400 on the API and on the static site', async () => {
    const site = staticSite(flock.app, { distDir: join(dir, 'dist-csp') });
    for (const app of [flock.app, site.app]) {
      for (const path of ['/%', '/assets/%E0%A4%A.js', '/v1/apps/%zz/manifest']) {
        const res = await app.request(path);
        expect(res.status, path).toBe(400);
        expectHardened(res);
      }
    }
  });
});
