/**
 * The operator dashboard in Chromium on a live rollout: canary-vs-control
 * bars and the evidence table from a real canary analysis, the shadow report,
 * drift flags and epsilon over rounds. Takes a screenshot to os.tmpdir().
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { pino } from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { mnistModelFiles, pushModel, registerDevice, testAdminKey, type Fetcher } from '../../coordinator/routes/fleet.fixture.ts';
import { staticSite } from '../../coordinator/static/index.ts';
import { buildDemoOnce } from './demo-fixture.ts';
import { CHROMIUM_PATH } from './harness.ts';

describe('dashboard in Chromium', () => {
  const adminKey = testAdminKey();
  const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
  let coordinator: Coordinator;
  let dataDir: string;
  let server: ServerType;
  let origin: string;
  let browser: Browser;
  let f: Fetcher;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM_PATH)) throw new Error(`browser tests need Chromium at ${CHROMIUM_PATH}; install it with: apt-get install -y chromium`);
    await buildDemoOnce();
    dataDir = mkdtempSync(join(tmpdir(), 'flock-dash-'));
    coordinator = await createCoordinator({
      dataDir, adminKey, log: pino({ level: 'silent' }), sweep: false,
      rateLimits: { registerPerIp: { limit: 10_000, windowMs: 60_000 }, perDevice: { limit: 10_000, windowMs: 60_000 } },
    });
    f = async (path, init) => coordinator.app.request(path, init);
    const files = await mnistModelFiles('mlp-small');
    for (const stage of ['production', undefined, undefined]) expect((await pushModel(f, adminKey, 'digits', files, stage)).status).toBe(201);
    const start = await f('/v1/admin/rollouts', { method: 'POST', headers: admin, body: JSON.stringify({ app: 'digits', candidateVersion: 2, stages: [50, 100], minStageSeconds: 3600, minSamples: 3, metrics: { accuracy: { minSamples: 50 } }, shadow: { version: 3, sampleRate: 0.2 } }) });
    expect(start.status).toBe(201);
    const { id } = (await start.json()) as { id: string };
    // A fleet where the candidate is clearly worse on labelled feedback, with drifted inputs.
    for (let i = 0; i < 24; i++) {
      const d = await registerDevice(f, 'digits');
      const served = ((await (await f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${d.token}` } })).json()) as { manifest: { version: number; generation: number } }).manifest;
      const canary = served.version === 2;
      const at = new Date().toISOString();
      const counts = canary ? [0, 0, 0, 2, 10, 20, 10, 2] : [10, 20, 10, 2, 0, 0, 0, 0];
      const events = [
        { type: 'model-loaded', at, version: served.version, generation: served.generation, encoding: 'int8', backend: 'wasm', fromCache: false },
        { type: 'feedback', at, correct: canary ? 55 : 92, incorrect: canary ? 45 : 8 },
        { type: 'latency', at, backend: 'wasm', count: 20, meanMs: 9, p50Ms: 8, p95Ms: 14, p99Ms: 16, maxMs: 18, samplesMs: Array.from({ length: 20 }, (_, k) => (canary ? 6 : 8) + (k % 5)) },
        { type: 'feature-summary', at, count: 44, features: [{ name: 'ink', mean: 0.3, variance: 0.01, histogram: { min: 0, max: 1, counts } }] },
        { type: 'shadow', at, shadowVersion: 3, count: 10, agreed: i % 3 === 0 ? 8 : 10, productionMeanMs: 8, shadowMeanMs: 11 },
      ];
      const res = await f('/v1/telemetry', { method: 'POST', headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ deviceId: d.deviceId, app: 'digits', modelVersion: served.version, events }) });
      expect(res.status).toBe(202);
    }
    // Pause first so the evaluation records evidence without rolling back (the dashboard then shows a live rollout).
    await coordinator.deps.rollouts.pause(id, 'test');
    await coordinator.deps.rollouts.evaluate(id);
    const site = staticSite(coordinator.app);
    server = await new Promise((ready) => {
      const s = serve({ fetch: site.app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('server has no port');
    origin = `http://127.0.0.1:${address.port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'] });
  }, 300_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (server) await new Promise<void>((done) => server.close(() => done()));
    await coordinator?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows the verdict with its evidence, canary-vs-control bars, the shadow report and drift flags', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
    await page.goto(`${origin}/dashboard`);
    await page.locator('#key').fill(adminKey);
    await page.locator('#key-form button[type="submit"]').click();
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
    const rollouts = page.locator('#rollouts');
    expect(await rollouts.locator('tr[data-metric="accuracy"] .pill').textContent()).toBe('fail');
    expect(await rollouts.locator('rect[data-metric="accuracy"][data-cohort="canary"]').count()).toBe(1);
    expect(await rollouts.locator('rect[data-metric="accuracy"][data-cohort="control"]').count()).toBe(1);
    expect(await rollouts.locator('[data-shadow]').textContent()).toMatch(/Shadow v3 .*agreement \d+(\.\d+)?%/);
    expect(await rollouts.locator('tr[data-drift-version="2"] .pill').textContent()).toBe('fail');
    const shot = join(tmpdir(), 'flock-dashboard-rollout.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.info(`screenshot: ${shot}`);
  }, 60_000);
});
