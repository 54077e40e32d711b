/**
 * The operator dashboard in Chromium on a live rollout: canary-vs-control
 * bars and the evidence table from a real canary analysis, the shadow report,
 * drift with its sample sizes, the device census; then operated from the
 * page alone: the rollout resumed, paused and aborted and a task paused and
 * resumed, each confirmed with a reason that the admin API's audit log then
 * holds; the audit view filtered; simulator apps hidden until asked; and an
 * API-side change shown without a reload. Screenshots go to os.tmpdir().
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { pino } from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import {
  createTask,
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
  type Fetcher,
} from '../../coordinator/routes/fleet.fixture.ts';
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
  let rolloutId: string;
  let taskId: string;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM_PATH))
      throw new Error(`browser tests need Chromium at ${CHROMIUM_PATH}; install it with: apt-get install -y chromium`);
    await buildDemoOnce();
    dataDir = mkdtempSync(join(tmpdir(), 'flock-dash-'));
    coordinator = await createCoordinator({
      dataDir,
      adminKey,
      log: pino({ level: 'silent' }),
      sweep: false,
      rateLimits: {
        registerPerIp: { limit: 10_000, windowMs: 60_000 },
        perDevice: { limit: 10_000, windowMs: 60_000 },
      },
    });
    f = async (path, init) => coordinator.app.request(path, init);
    const files = await mnistModelFiles('mlp-small');
    for (const stage of ['production', undefined, undefined])
      expect((await pushModel(f, adminKey, 'digits', files, stage)).status).toBe(201);
    const start = await f('/v1/admin/rollouts', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        app: 'digits',
        candidateVersion: 2,
        stages: [50, 100],
        minStageSeconds: 3600,
        minSamples: 3,
        metrics: { accuracy: { minSamples: 50 } },
        shadow: { version: 3, sampleRate: 0.2 },
      }),
    });
    expect(start.status).toBe(201);
    const { id } = (await start.json()) as { id: string };
    rolloutId = id;
    const task = await createTask(f, adminKey, 'digits', 1, { population: 10 });
    expect(task.status).toBe(201);
    taskId = ((await task.json()) as { id: string }).id;
    expect((await pushModel(f, adminKey, 'sim-0a1b2c3d', files, 'production')).status).toBe(201);
    // A fleet where the candidate is clearly worse on labelled feedback, with drifted inputs.
    for (let i = 0; i < 24; i++) {
      const d = await registerDevice(f, 'digits');
      const served = (
        (await (await f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${d.token}` } })).json()) as {
          manifest: { version: number; generation: number };
        }
      ).manifest;
      const canary = served.version === 2;
      const at = new Date().toISOString();
      const counts = canary ? [0, 0, 0, 2, 10, 20, 10, 2] : [10, 20, 10, 2, 0, 0, 0, 0];
      const events = [
        {
          type: 'model-loaded',
          at,
          version: served.version,
          generation: served.generation,
          encoding: 'int8',
          backend: 'wasm',
          fromCache: false,
        },
        { type: 'feedback', at, correct: canary ? 55 : 92, incorrect: canary ? 45 : 8 },
        {
          type: 'latency',
          at,
          backend: 'wasm',
          count: 20,
          meanMs: 9,
          p50Ms: 8,
          p95Ms: 14,
          p99Ms: 16,
          maxMs: 18,
          samplesMs: Array.from({ length: 20 }, (_, k) => (canary ? 6 : 8) + (k % 5)),
        },
        {
          type: 'feature-summary',
          at,
          count: 44,
          features: [{ name: 'ink', mean: 0.3, variance: 0.01, histogram: { min: 0, max: 1, counts } }],
        },
        {
          type: 'shadow',
          at,
          shadowVersion: 3,
          count: 10,
          agreed: i % 3 === 0 ? 8 : 10,
          productionMeanMs: 8,
          shadowMeanMs: 11,
        },
      ];
      const res = await f('/v1/telemetry', {
        method: 'POST',
        headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ deviceId: d.deviceId, app: 'digits', modelVersion: served.version, events }),
      });
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
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'],
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (server) await new Promise<void>((done) => server.close(() => done()));
    await coordinator?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const shoot = async (name: string) => {
    const shot = join(tmpdir(), `flock-dashboard-${name}.png`);
    // From the top: a scrolled page draws its sticky app bar over the middle of a full-page shot.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: shot, fullPage: true });
    console.info(`screenshot: ${shot}`);
  };
  /** One card at full resolution, to look at closely. */
  const shootCard = async (name: string, selector: string) => {
    const shot = join(tmpdir(), `flock-dashboard-${name}.png`);
    // The sticky app bar would cover the card's top once the card is scrolled to.
    await page.locator(selector).screenshot({ path: shot, style: '.toolbar { position: static !important; }' });
    console.info(`screenshot: ${shot}`);
  };
  const auditOf = async (query: string) =>
    (
      (await (await f(`/v1/admin/audit?${query}`, { headers: admin })).json()) as {
        entries: { action: string; actor: string; details: Record<string, unknown> }[];
      }
    ).entries;
  /** Click an action button, confirm it with `reason`, and wait for `done` on the page. */
  const act = async (scope: string, action: string, reason: string, done: string) => {
    await page.locator(`${scope} button[data-action="${action}"]`).click();
    await page.waitForSelector('#confirm[open]');
    await page.locator('#confirm-reason').fill(reason);
    await page.locator('#confirm-ok').click();
    await page.waitForSelector(done, { timeout: 15_000 });
    expect(await page.locator('#action-message').textContent()).toContain('reason recorded');
  };

  it('shows the verdict with its evidence, canary-vs-control bars, the shadow report, drift with samples and the device census', async () => {
    page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${origin}/dashboard`);
    await page.locator('#key').fill(adminKey);
    await page.locator('#key-form button[type="submit"]').click();
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
    expect(await page.locator('#app').inputValue()).toBe('digits');
    const rollouts = page.locator('#rollouts');
    expect(await rollouts.locator('tr[data-metric="accuracy"] .pill').textContent()).toBe('fail');
    expect(await rollouts.locator('rect[data-metric="accuracy"][data-cohort="canary"]').count()).toBe(1);
    expect(await rollouts.locator('rect[data-metric="accuracy"][data-cohort="control"]').count()).toBe(1);
    expect(await rollouts.locator('[data-shadow]').textContent()).toMatch(/Shadow v3 .*agreement \d+(\.\d+)?%/);
    const drift = page.locator('#drift tr[data-drift-version="2"]');
    expect(await drift.getAttribute('data-drift-status')).toBe('drift');
    expect(await drift.textContent()).toMatch(/\d+ obs \/ \d+ dev/);
    expect(await page.locator('[data-device-total]').textContent()).toBe('24');
    expect(await page.locator('li[data-count="backend:wasm"] .count-n').textContent()).toBe('24');
    const v1 = Number(await page.locator('li[data-count^="version"][data-count$=":1"] .count-n').textContent());
    const v2 = Number(await page.locator('li[data-count^="version"][data-count$=":2"] .count-n').textContent());
    expect(v1 + v2).toBe(24);
    expect(v1 * v2).toBeGreaterThan(0);
    expect(pageErrors).toEqual([]);
    await shoot('rollout');
    await shootCard('rollout-card', 'section.card:has(#rollouts)');
    await shootCard('devices-card', 'section.card:has(#devices)');
    await shootCard('audit-card', '#audit-card');
  }, 60_000);

  it('resumes, pauses and aborts the rollout from the page, each reason in the audit log', async () => {
    const scope = `.rollout[data-rollout-id="${rolloutId}"]`;
    expect(await page.locator(scope).getAttribute('data-status')).toBe('paused');
    // Cancelling changes nothing and records nothing.
    await page.locator(`${scope} button[data-action="abort"]`).click();
    await page.waitForSelector('#confirm[open]');
    expect(await page.locator('#confirm-title').textContent()).toContain('Abort the rollout of digits v2');
    await page.locator('#confirm-reason').fill('typed, then thought better of it');
    await shoot('confirm');
    await page.locator('#confirm-cancel').click();
    expect(await page.locator('#confirm[open]').count()).toBe(0);
    // An empty reason cannot be confirmed (the textarea is required).
    await page.locator(`${scope} button[data-action="abort"]`).click();
    await page.locator('#confirm-ok').click();
    expect(await page.locator('#confirm[open]').count()).toBe(1);
    await page.keyboard.press('Escape');
    expect((await coordinator.deps.store.getRollout(rolloutId))?.status).toBe('paused');

    await act(
      scope,
      'resume',
      'evidence reviewed: canary accuracy gap is a labelling bug',
      `${scope}[data-status="running"]`,
    );
    await act(scope, 'pause', 'pausing for the weekend freeze', `${scope}[data-status="paused"]`);
    await act(scope, 'abort', 'canary accuracy 55% vs 92%: not shipping v2', `${scope}[data-status="aborted"]`);
    expect(await page.locator(`${scope} button[data-action]`).count()).toBe(0);
    const entries = await auditOf(`target=${rolloutId}`);
    // Newest first: the first entry of an action is the dashboard's (the setup paused the rollout once, without a reason).
    const reasons = Object.fromEntries(
      ['rollout.resume', 'rollout.pause', 'rollout.abort'].map((action) => [
        action,
        entries.find((e) => e.action === action)?.details.reason,
      ]),
    );
    expect(reasons['rollout.resume']).toBe('evidence reviewed: canary accuracy gap is a labelling bug');
    expect(reasons['rollout.pause']).toBe('pausing for the weekend freeze');
    expect(reasons['rollout.abort']).toBe('aborted by operator: canary accuracy 55% vs 92%: not shipping v2');
    expect(entries.filter((e) => e.action === 'rollout.abort')).toHaveLength(1);
    expect(entries.find((e) => e.action === 'rollout.abort')?.actor).toMatch(/^admin:/);
    expect((await coordinator.deps.store.getRollout(rolloutId))?.status).toBe('aborted');
  }, 60_000);

  it('pauses and resumes a task from the page', async () => {
    const scope = `.task[data-task-id="${taskId}"]`;
    await act(scope, 'pause', 'holding training until the new holdout set lands', `${scope} .pill.paused`);
    await act(scope, 'resume', 'holdout set is in', `${scope} .pill.active`);
    const entries = await auditOf(`target=${taskId}`);
    expect(entries.filter((e) => e.action.startsWith('task.')).map((e) => [e.action, e.details.reason])).toEqual([
      ['task.resume', 'holdout set is in'],
      ['task.pause', 'holding training until the new holdout set lands'],
      ['task.create', undefined],
    ]);
  }, 60_000);

  it('promotes a rollout started from the CLI side, once the live refresh shows it', async () => {
    const start = await f('/v1/admin/rollouts', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ app: 'digits', candidateVersion: 3, stages: [50, 100], minStageSeconds: 3600 }),
    });
    expect(start.status).toBe(201);
    const { id } = (await start.json()) as { id: string };
    const scope = `.rollout[data-rollout-id="${id}"]`;
    await page.waitForSelector(`${scope}[data-status="running"]`, { timeout: 15_000 });
    await act(scope, 'promote', 'v3 verified on the staging fleet', `${scope}[data-status="completed"]`);
    expect((await coordinator.deps.store.getModelVersion('digits', 3))?.stage).toBe('production');
    const promoted = (await auditOf(`target=${id}&action=rollout.promote`))[0];
    expect(promoted?.details.reason).toBe('promoted by operator: v3 verified on the staging fleet');
  }, 60_000);

  it('says what went wrong when the rollout changed while the confirmation was open', async () => {
    const start = await f('/v1/admin/rollouts', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ app: 'digits', candidateVersion: 2, stages: [50, 100], minStageSeconds: 3600 }),
    });
    expect(start.status).toBe(201);
    const { id } = (await start.json()) as { id: string };
    const scope = `.rollout[data-rollout-id="${id}"]`;
    await page.waitForSelector(`${scope}[data-status="running"]`, { timeout: 15_000 });
    await page.locator(`${scope} button[data-action="pause"]`).click();
    await page.waitForSelector('#confirm[open]');
    // Someone else aborts it meanwhile (the open confirmation holds the live refresh).
    expect(
      (
        await f(`/v1/admin/rollouts/${id}/abort`, {
          method: 'POST',
          headers: admin,
          body: JSON.stringify({ reason: 'aborted from the CLI' }),
        })
      ).status,
    ).toBe(200);
    await page.locator('#confirm-reason').fill('too late');
    await page.locator('#confirm-ok').click();
    await page.waitForSelector('#action-message.error');
    expect(await page.locator('#action-message').textContent()).toMatch(
      /pause .* failed: rollout .* is aborted; only a running rollout can be paused/,
    );
    await page.waitForSelector(`${scope}[data-status="aborted"]`, { timeout: 15_000 });
    expect(await auditOf(`target=${id}&action=rollout.pause`)).toEqual([]);
  }, 60_000);

  it("filters the audit log by action and by the rollout's target", async () => {
    await page.locator('#audit-action').fill('rollout.pause');
    await page.locator('#audit-form button[type="submit"]').click();
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#audit-entries tr[data-audit-action]')];
      return rows.length > 0 && rows.every((r) => r.getAttribute('data-audit-action') === 'rollout.pause');
    });
    expect(await page.locator('#audit-entries tr[data-audit-action] td.reason').allTextContents()).toEqual([
      'pausing for the weekend freeze',
      '',
    ]);
    await page.locator(`.rollout[data-rollout-id="${rolloutId}"] button[data-audit-target]`).click();
    await page.waitForFunction(
      () => document.querySelectorAll('#audit-entries tr[data-audit-action="rollout.abort"]').length === 1,
    );
    expect(await page.locator('#audit-target').inputValue()).toBe(rolloutId);
    expect(await page.locator('#audit-action').inputValue()).toBe('');
    await shoot('audit');
    // since: nothing after a future instant; the rollout's start from an hour ago.
    await page.locator('#audit-since').fill('2099-01-01T00:00:00');
    await page.locator('#audit-form button[type="submit"]').click();
    await page.waitForFunction(() =>
      /No audit entries match/.test(document.getElementById('audit-entries')?.textContent ?? ''),
    );
    await page.locator('#audit-clear').click();
    await page.waitForFunction(
      () => document.querySelectorAll('#audit-entries tr[data-audit-action="rollout.promote"]').length > 0,
    );
    expect(await page.locator('#audit-target').inputValue()).toBe('');
  }, 60_000);

  it('shows an API-side change without a reload, and simulator apps only when asked', async () => {
    // A reload would lose this; the live refresh keeps it.
    await page.evaluate(() => Object.assign(window, { flockNotReloaded: true }));
    const res = await f(`/v1/admin/tasks/${taskId}/pause`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ reason: 'paused from the CLI' }),
    });
    expect(res.status).toBe(200);
    await page.waitForSelector(`.task[data-task-id="${taskId}"] .pill.paused`, { timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { flockNotReloaded?: boolean }).flockNotReloaded)).toBe(
      true,
    );

    const options = () => page.locator('#app option').allTextContents();
    expect(await options()).toEqual(['digits']);
    expect(await page.locator('#sim-count').textContent()).toBe('(1 hidden)');
    await page.locator('#show-sim').check();
    await page.waitForFunction(() => document.querySelectorAll('#app option').length === 2);
    expect(await options()).toEqual(['digits', 'sim-0a1b2c3d']);
    await page.locator('#app').selectOption('sim-0a1b2c3d');
    await page.waitForFunction(() =>
      /No rollouts of sim-0a1b2c3d/.test(document.getElementById('rollouts')?.textContent ?? ''),
    );
    expect(page.url()).toContain('app=sim-0a1b2c3d');
    expect(await page.locator('#tasks').textContent()).toContain('No training tasks for sim-0a1b2c3d');
    await shoot('sim-app');
  }, 60_000);
});
