/**
 * The static site in front of the API, on a real coordinator, against a
 * small dist/ folder written by the test; and first-start seeding.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { seedDemoModel } from '../../demo/seed/seed.ts';
import { staticSite } from './index.ts';

describe('static site + seed', () => {
  let coordinator: Coordinator;
  let dir: string;
  let dist: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flock-static-'));
    dist = join(dir, 'dist');
    mkdirSync(join(dist, 'demo', 'dashboard'), { recursive: true });
    mkdirSync(join(dist, 'demo', 'assets'), { recursive: true });
    mkdirSync(join(dist, 'flock'), { recursive: true });
    writeFileSync(join(dist, 'demo', 'index.html'), '<h1>digits</h1>');
    writeFileSync(join(dist, 'demo', 'dashboard', 'index.html'), '<h1>dashboard</h1>');
    writeFileSync(join(dist, 'demo', 'assets', 'app-abc.js'), 'console.log(1)');
    writeFileSync(join(dist, 'demo', 'sw.js'), 'self.x=1');
    writeFileSync(join(dist, 'flock', 'flock.min.js'), 'var Flock={}');
    writeFileSync(join(dir, 'secret.txt'), 'no');
    coordinator = await createCoordinator({ dataDir: join(dir, 'data'), log: pino({ level: 'silent' }), sweep: false });
  });

  afterAll(async () => {
    await coordinator.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the demo cross-origin isolated, the dashboard, the SDK, and passes the API through', async () => {
    const site = staticSite(coordinator.app, { distDir: dist });
    expect(site.demoBuilt).toBe(true);
    const home = await site.app.request('/');
    expect(await home.text()).toBe('<h1>digits</h1>');
    expect(home.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(home.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(await (await site.app.request('/dashboard')).text()).toBe('<h1>dashboard</h1>');
    const asset = await site.app.request('/assets/app-abc.js');
    expect(asset.headers.get('content-type')).toContain('text/javascript');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await site.app.request('/sw.js')).headers.get('service-worker-allowed')).toBe('/');
    const sdk = await site.app.request('/sdk/flock.min.js');
    expect(sdk.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    const health = await site.app.request('/healthz');
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
    expect((await site.app.request('/v1/admin/tasks')).status).toBe(401);
  });

  it('never serves files outside dist/demo', async () => {
    const site = staticSite(coordinator.app, { distDir: dist });
    for (const path of ['/../../secret.txt', '/%2e%2e/%2e%2e/secret.txt', '/sdk/..%2f..%2fsecret.txt']) {
      const res = await site.app.request(path);
      expect(await res.text()).not.toBe('no');
    }
  });

  it('answers 503 with the build command when the demo is not built', async () => {
    const site = staticSite(coordinator.app, { distDir: join(dir, 'nothing') });
    expect(site.demoBuilt).toBe(false);
    const res = await site.app.request('/');
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build:demo');
  });

  it('seeds a production digits model once, and not again', async () => {
    const lines: string[] = [];
    const first = await seedDemoModel(coordinator, {
      progress: (l) => lines.push(l),
      training: { examples: 1500, epochs: 1 },
    });
    expect(first.seeded).toBe(true);
    if (!first.seeded) return;
    expect(first.holdoutAccuracy).toBeGreaterThan(0.7);
    const production = await coordinator.deps.store.getModelVersion('digits', first.version);
    expect(production?.stage).toBe('production');
    expect(lines.join('\n')).toMatch(/seed model published: digits v1/);
    // A device of the app discovers the seeded federated task (what connect({ train: { tasks: 'auto' } }) asks).
    const reg = await coordinator.app.request('/v1/devices', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ app: 'digits' }),
    });
    const { token } = (await reg.json()) as { token: string };
    const listed = await coordinator.app.request('/v1/apps/digits/tasks', {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(listed.status).toBe(200);
    const { tasks } = (await listed.json()) as { tasks: Array<{ id: string; minExamples: number }> };
    expect(tasks).toHaveLength(1);
    expect((await coordinator.deps.store.getTask(tasks[0].id))?.modelVersion).toBe(first.version);
    expect(
      (await coordinator.app.request('/v1/apps/other/tasks', { headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(403);
    const second = await seedDemoModel(coordinator);
    expect(second.seeded).toBe(false);
    expect(await coordinator.deps.store.listTasks({ app: 'digits' })).toHaveLength(1);
  }, 120_000);
});
