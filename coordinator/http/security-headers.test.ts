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
  flock = await createCoordinator({ dataDir: join(dir, 'data'), log: pino({ level: 'silent' }), sweep: false, aggregationBackend: 'cpu' });
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
});
