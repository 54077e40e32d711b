/**
 * The Digits PWA end to end in real Chromium, served the way `flock serve`
 * serves it (coordinator + static site on one port, seeded model): draw a
 * digit and see a prediction, in a cross-origin-isolated page; a prediction
 * answered by the service-worker client; offline reload still predicts (shell
 * from the service worker, model from IndexedDB); the dashboard reads the
 * fleet. Screenshots go to the OS temp dir; their paths are printed.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { pino } from 'pino';
import { chromium, type Browser, type BrowserContext, type Response, type Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { staticSite } from '../../coordinator/static/index.ts';
import { seedDemoModel } from '../../demo/seed/seed.ts';
import { CHROMIUM_PATH } from './harness.ts';
import { buildDemoOnce, drawOne, predictedLabel } from './demo-fixture.ts';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

describe('Digits PWA in Chromium', () => {
  let coordinator: Coordinator;
  let dataDir: string;
  let server: ServerType;
  let origin: string;
  let browser: Browser;
  let context: BrowserContext;
  let adminKey: string;
  const shots = mkdtempSync(join(tmpdir(), 'flock-screenshots-'));

  beforeAll(async () => {
    if (!existsSync(CHROMIUM_PATH))
      throw new Error(`browser tests need Chromium at ${CHROMIUM_PATH}; install it with: apt-get install -y chromium`);
    await buildDemoOnce();
    dataDir = mkdtempSync(join(tmpdir(), 'flock-demo-'));
    coordinator = await createCoordinator({ dataDir, log: pino({ level: 'silent' }), sweep: false });
    adminKey = coordinator.initialAdminKey ?? '';
    // What `flock serve` does on first start, with less training to keep the test short.
    const seeded = await seedDemoModel(coordinator, { training: { examples: 3000, epochs: 2 } });
    expect(seeded.seeded).toBe(true);
    const site = staticSite(coordinator.app);
    expect(site.demoBuilt).toBe(true);
    server = await new Promise((ready) => {
      const s = serve({ fetch: site.app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('server has no port');
    origin = `http://127.0.0.1:${address.port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  }, 240_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (server) await new Promise<void>((done) => server.close(() => done()));
    await coordinator?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    console.info(`screenshots in ${shots}: ${existsSync(shots) ? readdirSync(shots).join(', ') : '(none)'}`);
  });

  it('predicts a drawn digit in a cross-origin-isolated page, and the service worker answers too', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    const loaded = await page.goto(origin);
    // The page runs under the coordinator's strict policy (no inline script, no eval), wasm threads included.
    expect(loaded!.headers()['content-security-policy']).toContain("script-src 'self' blob: 'wasm-unsafe-eval'");
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(await page.locator('#threads').textContent()).toMatch(/^available/);

    await drawOne(page);
    expect(await predictedLabel(page)).toBe('1');
    expect(await page.locator('#version').textContent()).toMatch(/^v1/);
    expect(await page.locator('#backend').textContent()).toMatch(/^(wasm|webgpu|webgl|cpu)$/);
    expect(await page.locator('#latency').textContent()).toMatch(/ms$/);

    // Correct it: the example is kept on the device.
    await page.locator('#correct-buttons button[data-digit="1"]').click();
    await page.waitForFunction(() => document.getElementById('examples')?.textContent === '1');

    // The service worker takes control (first visit: clients.claim on activate).
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 60_000 });
    await page.locator('#ask-worker').click();
    await page.waitForFunction(
      () => /from the service-worker/.test(document.getElementById('sw-answer')?.textContent ?? ''),
      undefined,
      { timeout: 60_000 },
    );
    expect(await page.locator('#sw-answer').textContent()).toMatch(/^1 \(/);

    // The raw protocol, from the page: the reply is stamped by the worker, and a bad request gets an error, not silence.
    const replies = await page.evaluate(async () => {
      const ask = (message: unknown) =>
        new Promise<unknown>((resolve, reject) => {
          const channel = new MessageChannel();
          const timer = setTimeout(() => reject(new Error('no reply in 30 s')), 30_000);
          channel.port1.onmessage = (e) => {
            clearTimeout(timer);
            resolve(e.data);
          };
          navigator.serviceWorker.controller!.postMessage(message, [channel.port2]);
        });
      const input = Array.from({ length: 784 }, (_, i) =>
        i % 28 >= 13 && i % 28 <= 15 && i > 28 * 4 && i < 28 * 24 ? 1 : 0,
      );
      return {
        predict: await ask({ type: 'predict', meta: { id: 'p1', sentAt: Date.now() }, payload: { input } }),
        bad: await ask({ type: 'predict', meta: { id: 'p2', sentAt: Date.now() }, payload: { input: 'seven' } }),
      };
    });
    const predict = replies.predict as {
      type: string;
      meta: { id: string; answeredBy: string };
      payload: { label: number; probabilities: number[]; modelVersion: number };
    };
    expect(predict.type).toBe('predict-result');
    expect(predict.meta).toMatchObject({ id: 'p1', answeredBy: 'service-worker' });
    expect(predict.payload.probabilities).toHaveLength(10);
    expect(predict.payload.label).toBe(1);
    expect(predict.payload.modelVersion).toBe(1);
    expect(replies.bad).toMatchObject({ type: 'error', meta: { id: 'p2' }, payload: { code: 'bad_request' } });

    const shot = join(shots, 'digits-online.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.info(`screenshot: ${shot}`);
    expect(errors).toEqual([]);
    expect(violations).toEqual([]);
    await page.close();
  }, 180_000);

  it('reloads and predicts offline from the service-worker shell and the IndexedDB model', async () => {
    const page = await context.newPage();
    await page.goto(origin);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 60_000 });
    // Offline is proven by the request log, not navigator.onLine (some Chromium
    // builds keep it true under emulation): every request to the coordinator's
    // API is aborted and none is answered; the model comes from IndexedDB.
    await context.setOffline(true);
    const aborted: string[] = [];
    const answered: string[] = [];
    const block = (route: Route) => {
      aborted.push(route.request().url());
      return route.abort('internetdisconnected');
    };
    await context.route(`${origin}/v1/**`, block);
    // Only requests made from here on: one the first page sent before going offline may still be answered late.
    const issuedOffline = new Set<unknown>();
    const onRequest = (r: unknown) => issuedOffline.add(r);
    context.on('request', onRequest);
    const onResponse = (r: Response) => {
      if (issuedOffline.has(r.request()) && new URL(r.url()).pathname.startsWith('/v1/') && !r.fromServiceWorker())
        answered.push(r.url());
    };
    context.on('response', onResponse);
    try {
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
      await drawOne(page);
      expect(await predictedLabel(page)).toBe('1');
      expect(await page.locator('#version').textContent()).toMatch(/^v1/);
      expect(answered).toEqual([]);
      const shot = join(shots, 'digits-offline.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.info(`screenshot: ${shot}`);
    } finally {
      context.off('response', onResponse);
      context.off('request', onRequest);
      await context.unroute(`${origin}/v1/**`, block);
      await context.setOffline(false);
      await page.close();
    }
  }, 180_000);

  it('shows versions, devices and rollouts on the dashboard after the admin key is entered', async () => {
    const page = await context.newPage();
    await page.goto(`${origin}/dashboard`);
    await page.locator('#key').fill(adminKey);
    await page.locator('#key-form button[type="submit"]').click();
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
    expect(await page.evaluate(() => sessionStorage.getItem('flock.adminKey'))).toBe(adminKey);
    const versions = (await page.locator('#versions').textContent()) ?? '';
    expect(versions).toContain('v1');
    expect(versions).toContain('production');
    expect(await page.locator('#versions svg.chart').count()).toBeGreaterThan(0);
    expect(await page.locator('#devices').textContent()).toMatch(/[1-9]\d* device/);
    expect(await page.locator('#rollouts').textContent()).toMatch(/no rollouts|candidate/i);
    const shot = join(shots, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.info(`screenshot: ${shot}`);

    // A wrong key is refused with a message, not a blank page.
    await page.locator('#forget').click();
    await page.locator('#key').fill('flk_admin_nope.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx');
    await page.locator('#key-form button[type="submit"]').click();
    await page.waitForFunction(
      () => /refused/.test(document.getElementById('key-message')?.textContent ?? ''),
      undefined,
      { timeout: 15_000 },
    );
    await page.close();
  }, 120_000);
});
