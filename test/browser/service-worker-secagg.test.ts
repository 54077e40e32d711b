/**
 * A secure-aggregation round with a service worker among its devices (issue
 * 17), in real Chromium against a real coordinator on loopback: one device is
 * an app's service worker (`Flock.startFlockServiceWorker` in a two-line
 * `sw.js`) that trains and runs the SecAgg+ phases (keys, shares, DDG
 * encoding, masking, unmasking) from a `flock-train` sync event, dispatched
 * over DevTools with no page of its origin open; the other two are pages whose
 * training workers run the same phases. The round closes with all three
 * devices through every phase and registers a new version. The service
 * worker's own requests (Playwright marks them) prove it, not a page, sent its
 * masked input and its unmasking shares.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import * as tf from '@tensorflow/tfjs';
import { Hono } from 'hono';
import { pino } from 'pino';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { writeModelDirectory } from '../../coordinator/registry/index.ts';
import { loadMnist } from '../../simulate/datasets/mnist.ts';
import { buildSdkOnce, CHROMIUM_ARGS, CHROMIUM_PATH, SDK_DIR, TEST_PAGE } from './harness.ts';

declare const Flock: typeof import('../../client/index.ts');

const APP = 'secagg-sw';
const EXAMPLES = 32;
const SW_SOURCE = `importScripts('/sdk/flock.min.js');\nFlock.startFlockServiceWorker({ app: '${APP}', assetsUrl: '/sdk/' });\n`;

type PageEvent = { type: string; roundId?: string; uploaded?: boolean; message?: string };
type SecWindow = Window & { flock: Awaited<ReturnType<typeof Flock.connect>>; flockEvents: PageEvent[] };
interface RoundView {
  id: string;
  state: string;
  reports: number;
  resultVersion: number | null;
  secureAggregation?: Record<string, unknown> | null;
}

function mnistRows(offset: number): { images: number[][]; labels: number[] } {
  const data = loadMnist({ split: 'train', offset, limit: EXAMPLES });
  const images = Array.from({ length: data.count }, (_, j) => Array.from(data.images.subarray(j * 784, (j + 1) * 784)));
  return { images, labels: Array.from(data.labels) };
}

/** A page device: connect() with the task, record, then become eligible (as secagg-sdk.test.ts). */
async function joinAsPage(page: Page, taskId: string, offset: number): Promise<void> {
  await page.evaluate(
    async ({ app, taskId, images, labels }) => {
      const w = window as unknown as SecWindow;
      w.flockEvents = [];
      let go = false;
      w.flock = await Flock.connect({
        url: location.origin,
        app,
        train: { tasks: [taskId], eligibility: () => go, eligibilityPollMs: 100 },
      });
      for (const type of ['round-finished', 'error'] as const) {
        w.flock.on(type, (e) =>
          w.flockEvents.push({
            type,
            ...('roundId' in e ? { roundId: e.roundId } : {}),
            ...('uploaded' in e ? { uploaded: e.uploaded } : {}),
            ...('error' in e ? { message: e.error.message } : {}),
          }),
        );
      }
      for (let i = 0; i < images.length; i++) await w.flock.record(new Float32Array(images[i]), labels[i]);
      go = true;
    },
    { app: APP, taskId, ...mnistRows(offset) },
  );
}

describe('secure aggregation with a service-worker device', () => {
  let browser: Browser;
  let coordinator: Coordinator;
  let server: ServerType;
  let origin: string;
  let dataDir: string;
  const contexts: BrowserContext[] = [];
  const admin = () => ({ authorization: `Bearer ${coordinator.initialAdminKey}`, 'content-type': 'application/json' });

  beforeAll(async () => {
    await buildSdkOnce();
    dataDir = mkdtempSync(join(tmpdir(), 'flock-sw-secagg-'));
    coordinator = await createCoordinator({ dataDir, log: pino({ level: 'silent' }), sweep: false });
    const site = new Hono();
    site.get('/', (c) => c.html(TEST_PAGE));
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
    // The 7,850-parameter dense layer of secagg-sdk.test.ts.
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [784], units: 10, activation: 'softmax', name: 'output' })],
    });
    const modelDir = join(dataDir, 'model');
    await writeModelDirectory(model, modelDir);
    model.dispose();
    const form = new FormData();
    for (const name of ['model.json', 'weights.bin'])
      form.append(name, new Blob([readFileSync(join(modelDir, name))]), name);
    form.append('stage', 'production');
    const pushed = await fetch(`${origin}/v1/admin/models/${APP}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${coordinator.initialAdminKey}` },
      body: form,
    });
    expect(pushed.status, await pushed.clone().text()).toBe(201);
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close().catch(() => {});
    if (server) await new Promise<void>((done) => server.close(() => done()));
    await coordinator?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('a flock-train sync with no page open runs the SecAgg+ phases; the round closes 3/3/3/3/3 with a new version', async () => {
    const created = await fetch(`${origin}/v1/admin/tasks`, {
      method: 'POST',
      headers: admin(),
      body: JSON.stringify({
        app: APP,
        modelVersion: 1,
        plan: {
          population: 3,
          clientsPerRound: 3,
          minReports: 3,
          overSelection: 1,
          roundDeadlineSeconds: 180,
          localEpochs: 1,
          batchSize: 16,
          learningRate: 0.1,
          clipNorm: 1,
          minExamples: 10,
          secureAggregation: { bits: 20, minSurvivors: 3 },
        },
      }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const taskId = ((await created.json()) as { id: string }).id;

    // The service-worker device: a page registers sw.js, records examples and names the task to the
    // worker by message (no sync registration, so no sync fires while the page is open), then closes.
    const swContext = await browser.newContext();
    contexts.push(swContext);
    await swContext.addInitScript('window.__name = (f) => f;');
    const swRequests: Array<{ method: string; path: string; at: number }> = [];
    swContext.on('request', (r) => {
      if (r.serviceWorker()) swRequests.push({ method: r.method(), path: new URL(r.url()).pathname, at: Date.now() });
    });
    const swPage = await swContext.newPage();
    const errors: string[] = [];
    swPage.on('pageerror', (e) => errors.push(e.message));
    await swPage.goto(origin);
    const { reply, deviceId } = await swPage.evaluate(
      async ({ app, taskId, images, labels }) => {
        await navigator.serviceWorker.register('/sw.js');
        const registration = await navigator.serviceWorker.ready;
        const flock = await Flock.connect({ url: location.origin, app, backend: 'cpu', telemetry: false });
        for (let i = 0; i < images.length; i++) await flock.record(new Float32Array(images[i]), labels[i]);
        const deviceId = (await flock.status()).deviceId;
        await flock.close();
        const reply = await new Promise<unknown>((resolve, reject) => {
          const channel = new MessageChannel();
          const timer = setTimeout(() => reject(new Error('no train-config reply in 15 s')), 15_000);
          channel.port1.onmessage = (e) => {
            clearTimeout(timer);
            resolve(e.data);
          };
          registration.active!.postMessage(
            { type: 'train-config', meta: { id: 'cfg1', sentAt: Date.now() }, payload: { tasks: [taskId] } },
            [channel.port2],
          );
        });
        return { reply, deviceId };
      },
      { app: APP, taskId, ...mnistRows(0) },
    );
    expect(reply).toMatchObject({ type: 'train-config-result', payload: { tasks: [taskId] } });
    expect(deviceId).toEqual(expect.any(String));

    // A DevTools session on a blank page outlives the app's page.
    const blank = await swContext.newPage();
    const cdp = await swContext.newCDPSession(blank);
    const registrations: Array<{ registrationId: string; scopeURL: string; isDeleted: boolean }> = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
    await cdp.send('ServiceWorker.enable');
    await swPage.close();
    const pageClosedAt = Date.now();
    expect(swContext.pages().filter((p) => p.url().startsWith(origin))).toEqual([]);
    const until = Date.now() + 10_000;
    while (!registrations.some((r) => r.scopeURL.startsWith(origin) && !r.isDeleted) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    const registration = registrations.find((r) => r.scopeURL.startsWith(origin) && !r.isDeleted);
    expect(registration, 'the origin has a service-worker registration').toBeDefined();

    // Two page devices, each in its own context (its own IndexedDB, so its own device).
    const pages: Page[] = [];
    for (let i = 0; i < 2; i++) {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(origin);
      pages.push(page);
    }
    await Promise.all(pages.map((page, i) => joinAsPage(page, taskId, (i + 1) * EXAMPLES)));
    await cdp.send('ServiceWorker.dispatchSyncEvent', {
      origin,
      registrationId: registration!.registrationId,
      tag: 'flock-train',
      lastChance: false,
    });

    await Promise.all(
      pages.map((page) =>
        page.waitForFunction(
          () => (window as unknown as SecWindow).flockEvents.some((e) => e.type === 'round-finished'),
          null,
          { timeout: 170_000, polling: 250 },
        ),
      ),
    );
    const events = await Promise.all(pages.map((p) => p.evaluate(() => (window as unknown as SecWindow).flockEvents)));
    for (const e of events) {
      expect(e.filter((x) => x.type === 'error')).toEqual([]);
      expect(e.find((x) => x.type === 'round-finished')).toMatchObject({ uploaded: true });
    }
    const roundId = events[0].find((x) => x.type === 'round-finished')?.roundId as string;

    const rounds = async () =>
      (
        (await (await fetch(`${origin}/v1/admin/tasks/${taskId}/rounds`, { headers: admin() })).json()) as {
          rounds: RoundView[];
        }
      ).rounds;
    let round: RoundView | undefined;
    const closeBy = Date.now() + 60_000;
    while (Date.now() < closeBy) {
      round = (await rounds()).find((r) => r.id === roundId);
      if (round?.state === 'closed') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(round).toMatchObject({
      state: 'closed',
      resultVersion: 2,
      secureAggregation: { phase: 'done', selected: 3, advertised: 3, shared: 3, masked: 3, unmasked: 3 },
    });

    // The service worker itself sent each phase of this round, after the last page of its origin closed.
    const phase = (method: string, name: string) =>
      swRequests.filter((r) => r.method === method && r.path === `/v1/rounds/${roundId}/secagg/${name}`);
    for (const [method, name] of [
      ['POST', 'advertise'],
      ['POST', 'shares'],
      ['PUT', 'masked'],
      ['POST', 'unmask'],
    ] as const) {
      const sent = phase(method, name);
      expect(sent, `${method} ${name} from the service worker: ${JSON.stringify(swRequests)}`).toHaveLength(1);
      expect(sent[0].at).toBeGreaterThan(pageClosedAt);
    }
    expect(errors).toEqual([]);
    const version = await fetch(`${origin}/v1/admin/models/${APP}/versions`, { headers: admin() });
    const versions = ((await version.json()) as { versions: Array<{ version: number }> }).versions.map(
      (v) => v.version,
    );
    expect(versions).toContain(2);
    console.info(
      `service-worker secagg: device ${deviceId} (service worker, no page open) and 2 pages; round ${roundId} closed ${JSON.stringify(round?.secureAggregation)} as version ${round?.resultVersion}; service-worker requests: ${swRequests.length}`,
    );
  }, 300_000);
});
