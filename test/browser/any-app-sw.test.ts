/**
 * The service-worker client for an app that is not the demo: a stranger's
 * `sw.js` of two lines (`importScripts` the script-tag SDK, then
 * `Flock.startFlockServiceWorker({ app: 'inbox' })`), in real Chromium against
 * a real coordinator. The page asks it for a prediction by message and names
 * its background-training tasks with `Flock.enableBackgroundTraining`; with
 * the coordinator unreachable (routes blocked, request log checked) the
 * worker still answers from IndexedDB; a `flock-train` sync event, dispatched
 * over DevTools with no page of the origin open, trains on the examples the
 * page recorded and uploads, and the coordinator closes the round.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { pino } from 'pino';
import { chromium, type Browser, type Request, type Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { writeModelDirectory } from '../../coordinator/registry/index.ts';
import { createMnistModel } from '../../shared/model/index.ts';
import { buildSdkOnce, CHROMIUM_ARGS, CHROMIUM_PATH, SDK_DIR, sampleInputs } from './harness.ts';

declare const Flock: typeof import('../../client/index.ts');
const INPUT = sampleInputs(1, 784, 9)[0];
const SW_SOURCE =
  "importScripts('/sdk/flock.min.js');\nFlock.startFlockServiceWorker({ app: 'inbox', assetsUrl: '/sdk/', shellVersion: 'inbox-1' });\n";

describe('startFlockServiceWorker in any app', () => {
  let browser: Browser;
  let coordinator: Coordinator;
  let server: ServerType;
  let origin: string;
  let dataDir: string;

  beforeAll(async () => {
    await buildSdkOnce();
    dataDir = mkdtempSync(join(tmpdir(), 'flock-any-sw-'));
    coordinator = await createCoordinator({ dataDir, log: pino({ level: 'silent' }), sweep: false });
    const site = new Hono();
    site.get('/', (c) =>
      c.html('<!doctype html><meta charset="utf-8"><title>Inbox</title><script src="/sdk/flock.min.js"></script>'),
    );
    site.get('/sw.js', (c) => c.body(SW_SOURCE, 200, { 'content-type': 'text/javascript' }));
    site.get('/sdk/:file', (c) => {
      const path = join(SDK_DIR, c.req.param('file'));
      if (c.req.param('file').includes('..') || !existsSync(path)) return c.notFound();
      return c.body(readFileSync(path), 200, {
        'content-type': path.endsWith('.wasm') ? 'application/wasm' : 'text/javascript',
      });
    });
    site.all('*', (c) => coordinator.app.fetch(c.req.raw));
    server = await new Promise((ready) => {
      const s = serve({ fetch: site.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
    });
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const modelDir = join(dataDir, 'model');
    const model = createMnistModel('mlp-small', { seed: 8 });
    await writeModelDirectory(model, modelDir);
    model.dispose();
    const form = new FormData();
    for (const name of ['model.json', 'weights.bin'])
      form.append(name, new Blob([readFileSync(join(modelDir, name))]), name);
    form.append('stage', 'production');
    const pushed = await fetch(`${origin}/v1/admin/models/inbox`, {
      method: 'POST',
      headers: { authorization: `Bearer ${coordinator.initialAdminKey}` },
      body: form,
    });
    expect(pushed.status).toBe(201);
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  }, 180_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (server) await new Promise<void>((done) => server.close(() => done()));
    await coordinator?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("answers predictions for the app it was started with and keeps the page's background tasks", async () => {
    const context = await browser.newContext();
    await context.addInitScript('window.__name = (f) => f;');
    const swRequests: string[] = [];
    context.on('request', (r) => {
      if (r.serviceWorker()) swRequests.push(new URL(r.url()).pathname);
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(origin);
    const result = await page.evaluate(async (input) => {
      await navigator.serviceWorker.register('/sw.js');
      const registration = await navigator.serviceWorker.ready;
      const ask = (message: unknown) =>
        new Promise<unknown>((resolve, reject) => {
          const channel = new MessageChannel();
          const timer = setTimeout(() => reject(new Error('no reply in 60 s')), 60_000);
          channel.port1.onmessage = (e) => {
            clearTimeout(timer);
            resolve(e.data);
          };
          registration.active!.postMessage(message, [channel.port2]);
        });
      const predict = await ask({ type: 'predict', meta: { id: 'p1', sentAt: Date.now() }, payload: { input } });
      const background = await Flock.enableBackgroundTraining(['task_inbox']);
      return { predict, background };
    }, INPUT);
    await context.close();
    expect(result.predict).toMatchObject({
      type: 'predict-result',
      meta: { id: 'p1', answeredBy: 'service-worker', shellVersion: 'inbox-1' },
      payload: { modelVersion: 1 },
    });
    expect((result.predict as { payload: { probabilities: number[] } }).payload.probabilities).toHaveLength(10);
    expect(result.background.tasks).toEqual(['task_inbox']);
    expect(swRequests).toContain('/v1/apps/inbox/manifest');
    expect(swRequests.some((p) => p.includes('digits'))).toBe(false);
    expect(errors).toEqual([]);
  }, 120_000);

  it('answers offline from IndexedDB, then trains and uploads a round from a sync event with no page open', async () => {
    const admin = { authorization: `Bearer ${coordinator.initialAdminKey}`, 'content-type': 'application/json' };
    const created = await fetch(`${origin}/v1/admin/tasks`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        app: 'inbox',
        modelVersion: 1,
        plan: {
          population: 1,
          clientsPerRound: 1,
          minReports: 1,
          overSelection: 1,
          roundDeadlineSeconds: 300,
          localEpochs: 1,
          batchSize: 4,
          learningRate: 0.05,
          clipNorm: 5,
          minExamples: 5,
          noiseMultiplier: 0.5,
        },
      }),
    });
    expect(created.status).toBe(201);
    const taskId = ((await created.json()) as { id: string }).id;

    const context = await browser.newContext();
    await context.addInitScript('window.__name = (f) => f;');
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(origin);
    const examples = sampleInputs(8, 784, 21);
    const background = await page.evaluate(
      async ({ url, xs, id }) => {
        await navigator.serviceWorker.register('/sw.js');
        await navigator.serviceWorker.ready;
        const flock = await Flock.connect({ url, app: 'inbox', backend: 'cpu', telemetry: false });
        for (let i = 0; i < xs.length; i++) await flock.record(new Float32Array(xs[i]), i % 10);
        await flock.close();
        return Flock.enableBackgroundTraining([id]);
      },
      { url: origin, xs: examples, id: taskId },
    );
    expect(background.tasks).toEqual([taskId]);

    // Offline: every coordinator route blocked, and counted.
    const blocked: string[] = [];
    const block = (route: Route) => {
      blocked.push(new URL(route.request().url()).pathname);
      return route.abort('internetdisconnected');
    };
    await context.route(`${origin}/v1/**`, block);
    await context.setOffline(true);
    // A request the service worker started before the block (its background sync may check
    // in right after it was enabled) may still finish; none started from here on may be answered.
    const startedOffline = new Set<Request>();
    context.on('request', (r) => startedOffline.add(r));
    const answered: string[] = [];
    context.on('requestfinished', (r) => {
      if (startedOffline.has(r) && new URL(r.url()).pathname.startsWith('/v1/')) answered.push(r.url());
    });
    const offline = await page.evaluate(async (input) => {
      const registration = await navigator.serviceWorker.ready;
      const channel = new MessageChannel();
      return new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no reply in 60 s')), 60_000);
        channel.port1.onmessage = (e) => {
          clearTimeout(timer);
          resolve(e.data);
        };
        registration.active!.postMessage(
          { type: 'predict', meta: { id: 'off1', sentAt: Date.now() }, payload: { input } },
          [channel.port2],
        );
      });
    }, INPUT);
    expect(offline).toMatchObject({
      type: 'predict-result',
      meta: { id: 'off1', answeredBy: 'service-worker' },
      payload: { modelVersion: 1 },
    });
    expect(answered).toEqual([]);
    await context.unroute(`${origin}/v1/**`, block);
    await context.setOffline(false);

    // No page of the origin open; a DevTools session on a blank page dispatches the sync.
    const blank = await context.newPage();
    const cdp = await context.newCDPSession(blank);
    const registrations: Array<{ registrationId: string; scopeURL: string; isDeleted: boolean }> = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
    await cdp.send('ServiceWorker.enable');
    await page.close();
    const until = Date.now() + 10_000;
    while (!registrations.some((r) => r.scopeURL.startsWith(origin) && !r.isDeleted) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    const registration = registrations.find((r) => r.scopeURL.startsWith(origin) && !r.isDeleted);
    expect(registration, 'the inbox origin has a service-worker registration').toBeDefined();
    await cdp.send('ServiceWorker.dispatchSyncEvent', {
      origin,
      registrationId: registration!.registrationId,
      tag: 'flock-train',
      lastChance: false,
    });

    type RoundView = { state: string; reports: number; resultVersion: number | null };
    const rounds = async () =>
      (
        (await (await fetch(`${origin}/v1/admin/tasks/${taskId}/rounds`, { headers: admin })).json()) as {
          rounds: RoundView[];
        }
      ).rounds;
    const deadline = Date.now() + 150_000;
    while (!(await rounds()).some((r) => r.state === 'closed') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
    // Newest first: a later check-in (the page's own sync retrying) may already have opened round 2.
    const all = await rounds();
    const round = all.find((r) => r.state === 'closed');
    expect(round, JSON.stringify(all)).toMatchObject({ state: 'closed', reports: 1, resultVersion: 2 });
    expect(errors).toEqual([]);
    console.info(
      `any-app service worker: offline prediction answered by the worker (${blocked.length} coordinator requests blocked, 0 answered); a flock-train sync trained and uploaded; round closed as version ${round?.resultVersion}`,
    );
    await context.close();
  }, 300_000);
});
