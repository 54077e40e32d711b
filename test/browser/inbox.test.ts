/**
 * The Inbox demo end to end in real Chromium, served the way `flock serve`
 * serves it (the built demo in front of a real coordinator on SQLite, on one
 * loopback port), with the model the first start seeds (`flock model init`
 * through the real CLI, trained on the corpus's training split). The page
 * shows held-out SpamAssassin mails with the probability of spam that the
 * SDK computes from raw text through the version's own preprocessing; the
 * same probabilities are computed here in Node from the same variant. Then,
 * offline (context offline, the coordinator's routes blocked, and the request
 * log showing that no request started after the block reached the network),
 * a reload still reads the inbox, a person marks mails, and the examples are
 * in IndexedDB; back online, the service worker's training round carries
 * them to the coordinator, which closes the round as a new version.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import * as tf from '@tensorflow/tfjs';
import { pino } from 'pino';
import { chromium, type Browser, type BrowserContext, type Page, type Request, type Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { loadModelSpec, tfjsTopologyOf } from '../../coordinator/registry/model-spec-file.ts';
import { weightsFromVariant } from '../../coordinator/registry/variants.ts';
import { staticSite } from '../../coordinator/static/index.ts';
import { selectInboxMails, type LabelledInboxMail } from '../../demo/build/inbox-mails.ts';
import { INBOX_APP, seedInboxModel } from '../../demo/seed/inbox-seed.ts';
import { modelFromParts } from '../../shared/model/index.ts';
import { compilePreprocess } from '../../shared/preprocess/index.ts';
import { buildDemoOnce } from './demo-fixture.ts';
import { CHROMIUM_PATH } from './harness.ts';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const PAGE = '/inbox/index.html';

interface ShownMail {
  id: string;
  label: string;
  spamProbability: number;
  marked: string | null;
}

async function shownMails(page: Page): Promise<ShownMail[]> {
  return page.$$eval('li.mail', (rows) =>
    rows.map((r) => {
      const row = r as HTMLElement;
      return {
        id: row.dataset.mailId ?? '',
        label: row.dataset.label ?? '',
        spamProbability: Number(row.dataset.spamProbability),
        marked: row.dataset.marked ?? null,
      };
    }),
  );
}

/** What the page says it runs: `v1 (int8)` -> 'int8'. */
async function shownEncoding(page: Page): Promise<string> {
  const text = (await page.locator('#version').textContent()) ?? '';
  const m = /^v(\d+) \((fp32|fp16|int8)\)$/.exec(text);
  if (!m) throw new Error(`#version reads "${text}"`);
  return m[2];
}

describe('Inbox demo in Chromium', () => {
  let coordinator: Coordinator;
  let dataDir: string;
  let server: ServerType;
  let origin: string;
  let browser: Browser;
  let context: BrowserContext;
  let mails: LabelledInboxMail[];
  let taskId: string;
  /** Probability of spam per mail id, per variant encoding, computed in Node. */
  const reference = new Map<string, Map<string, number>>();
  let knownSpam: LabelledInboxMail;
  let knownHam: LabelledInboxMail;

  async function referenceFor(encoding: string): Promise<Map<string, number>> {
    const hit = reference.get(encoding);
    if (hit) return hit;
    const { store } = coordinator.deps;
    const version = (await store.getModelVersion(INBOX_APP, 1))!;
    const spec = (await loadModelSpec(store, version))!;
    const variant = version.variants.find((v) => v.encoding === encoding)!;
    const bytes = (await store.blobs.get(variant.sha256))!;
    const model = await modelFromParts({
      topology: tfjsTopologyOf(version),
      weightSpecs: version.weightSpecs,
      weights: weightsFromVariant(bytes, version.weightSpecs),
    });
    const p = compilePreprocess(spec.preprocess);
    const x = tf.tensor2d(
      mails.flatMap((m) => Array.from(p.apply(m.text))),
      [mails.length, p.shape[0]],
    );
    const y = model.predict(x) as tf.Tensor;
    const rows = await y.data();
    tf.dispose([x, y]);
    model.dispose();
    const out = new Map(mails.map((m, i) => [m.id, rows[i]]));
    reference.set(encoding, out);
    return out;
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM_PATH))
      throw new Error(`browser tests need Chromium at ${CHROMIUM_PATH}; install it with: apt-get install -y chromium`);
    await buildDemoOnce();
    mails = selectInboxMails();
    dataDir = mkdtempSync(join(tmpdir(), 'flock-inbox-'));
    coordinator = await createCoordinator({ dataDir, log: pino({ level: 'silent' }), sweep: false });
    // What `flock serve` does on first start, with less training, and a task one device can close.
    const seeded = await seedInboxModel(coordinator, {
      training: { examples: 1500 },
      task: { population: 1, clientsPerRound: 1, minReports: 1, overSelection: 1, minExamples: 3 },
    });
    expect(seeded).toMatchObject({ seeded: true, version: 1 });
    taskId = (await coordinator.deps.store.listTasks({ app: INBOX_APP }))[0].id;
    const site = staticSite(coordinator.app);
    expect(site.demoBuilt).toBe(true);
    server = await new Promise((ready) => {
      const s = serve({ fetch: site.app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('server has no port');
    origin = `http://127.0.0.1:${address.port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const fp32 = await referenceFor('fp32');
    const bySpam = [...mails].sort((a, b) => fp32.get(b.id)! - fp32.get(a.id)!);
    knownSpam = bySpam.find((m) => m.label === 1)!;
    knownHam = bySpam.findLast((m) => m.label === 0)!;
  }, 300_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (server) await new Promise<void>((done) => server.close(() => done()));
    await coordinator?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows each mail with the probability of spam the version computes from its raw text', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${origin}${PAGE}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);

    const shown = await shownMails(page);
    expect(shown.map((m) => m.id)).toEqual(mails.map((m) => m.id));
    const ref = await referenceFor(await shownEncoding(page));
    for (const m of shown) {
      expect(['spam', 'ham']).toContain(m.label);
      expect(m.spamProbability).toBeGreaterThanOrEqual(0);
      expect(m.spamProbability).toBeLessThanOrEqual(1);
      // The page's backend (wasm here) and Node's cpu backend agree to float rounding on the same variant.
      expect(Math.abs(m.spamProbability - ref.get(m.id)!)).toBeLessThan(1e-4);
      expect(m.label).toBe(ref.get(m.id)! >= 0.5 ? 'spam' : 'ham');
    }
    const byId = new Map(shown.map((m) => [m.id, m]));
    expect(byId.get(knownSpam.id)?.label).toBe('spam');
    expect(byId.get(knownHam.id)?.label).toBe('ham');
    const right = shown.filter((m, i) => (m.label === 'spam' ? 1 : 0) === mails[i].label).length;
    expect(right / shown.length).toBeGreaterThanOrEqual(0.75);
    expect(await page.locator(`li.mail[data-mail-id="${knownSpam.id}"] .verdict`).textContent()).toMatch(/^spam \d+%$/);
    expect(await page.locator('#version').textContent()).toMatch(/^v1 /);

    // The service worker takes control on the first visit (clients.claim on activate).
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL)).toBe(`${origin}/inbox/sw.js`);
    expect(errors).toEqual([]);
    console.info(
      `inbox online: ${right}/${shown.length} mails read right, ${await page.locator('#latency').textContent()} on ${await page.locator('#backend').textContent()} (${await page.locator('#version').textContent()})`,
    );
    await page.close();
  }, 240_000);

  it('reloads offline, still reads the inbox, and keeps the marks in IndexedDB', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // A visit under the worker's control hands the app's task to it (background training).
    await page.goto(`${origin}${PAGE}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    await page.waitForFunction(
      async () => {
        const hit = await (await caches.open('flock-sw-config')).match('/__flock/background-tasks/inbox');
        return hit !== undefined && ((await hit.json()) as { tasks: string[] }).tasks.length > 0;
      },
      undefined,
      { timeout: 30_000, polling: 250 },
    );
    const online = await shownMails(page);

    const blocked: string[] = [];
    const block = (route: Route) => {
      blocked.push(new URL(route.request().url()).pathname);
      return route.abort('internetdisconnected');
    };
    await context.route(`${origin}/v1/**`, block);
    await context.setOffline(true);
    // navigator.onLine stays true on this Chromium: offline is proven by the log of requests started from here on.
    const startedOffline = new Set<Request>();
    const onRequest = (r: Request) => startedOffline.add(r);
    const fromNetwork: string[] = [];
    const onFinished = async (r: Request) => {
      if (!startedOffline.has(r)) return;
      const response = await r.response().catch(() => null);
      if (response && !response.fromServiceWorker()) fromNetwork.push(r.url());
    };
    context.on('request', onRequest);
    context.on('requestfinished', onFinished);
    try {
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
      const offline = await shownMails(page);
      expect(offline.map((m) => [m.id, m.label, m.spamProbability])).toEqual(
        online.map((m) => [m.id, m.label, m.spamProbability]),
      );

      for (const [mail, button] of [
        [knownSpam, 'spam'],
        [knownHam, 'ham'],
        [mails.find((m) => m.label === 1 && m.id !== knownSpam.id)!, 'spam'],
      ] as const)
        await page.locator(`li.mail[data-mail-id="${mail.id}"] button[data-mark="${button}"]`).click();
      await page.waitForFunction(() => document.getElementById('examples')?.textContent === '3', undefined, {
        timeout: 30_000,
      });
      expect((await shownMails(page)).filter((m) => m.marked).map((m) => [m.id, m.marked])).toEqual(
        expect.arrayContaining([
          [knownSpam.id, 'spam'],
          [knownHam.id, 'ham'],
        ]),
      );
      const stored = await page.evaluate(
        () =>
          new Promise<Array<{ app: string; label: number; width: number }>>((resolve, reject) => {
            const open = indexedDB.open('flock');
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
              const all = open.result.transaction('examples').objectStore('examples').getAll();
              all.onerror = () => reject(all.error);
              all.onsuccess = () => {
                open.result.close();
                resolve(
                  (all.result as Array<{ app: string; label: number; input: Float32Array }>).map((e) => ({
                    app: e.app,
                    label: e.label,
                    width: e.input.length,
                  })),
                );
              };
            };
          }),
      );
      // The version's preprocessing, not the page, made the features: 4,096 hashed word buckets, binary targets.
      expect(stored).toEqual([
        { app: INBOX_APP, label: 1, width: 4096 },
        { app: INBOX_APP, label: 0, width: 4096 },
        { app: INBOX_APP, label: 1, width: 4096 },
      ]);
      expect(fromNetwork).toEqual([]);
      expect(errors).toEqual([]);
      console.info(
        `inbox offline: reload read ${offline.length} mails, 3 marks kept; ${blocked.length} coordinator requests blocked, ${startedOffline.size} requests started offline, 0 answered by the network`,
      );
    } finally {
      context.off('request', onRequest);
      context.off('requestfinished', onFinished);
      await context.unroute(`${origin}/v1/**`, block);
      await context.setOffline(false);
      await page.close();
    }
  }, 300_000);

  it('back online, a training round carries the marked mails to the coordinator', async () => {
    // No page of the origin open; a DevTools session on a blank page fires the worker's sync event.
    const blank = await context.newPage();
    const cdp = await context.newCDPSession(blank);
    const registrations: Array<{ registrationId: string; scopeURL: string; isDeleted: boolean }> = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
    await cdp.send('ServiceWorker.enable');
    const scope = `${origin}/inbox/`;
    const until = Date.now() + 10_000;
    while (!registrations.some((r) => r.scopeURL === scope && !r.isDeleted) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    const registration = registrations.find((r) => r.scopeURL === scope && !r.isDeleted);
    expect(registration, 'the Inbox has its own service-worker registration').toBeDefined();
    await cdp.send('ServiceWorker.dispatchSyncEvent', {
      origin,
      registrationId: registration!.registrationId,
      tag: 'flock-train',
      lastChance: false,
    });

    const { store } = coordinator.deps;
    const deadline = Date.now() + 200_000;
    let rounds = await store.listRounds({ taskId });
    while (!rounds.some((r) => r.status === 'closed') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      rounds = await store.listRounds({ taskId });
    }
    const closed = rounds.find((r) => r.status === 'closed');
    expect(closed, `a closed round (rounds: ${JSON.stringify(rounds.map((r) => r.status))})`).toBeDefined();
    // The one update trained on the three mails marked offline (no page of the Inbox is open: the worker sent it).
    const updates = await store.listUpdates(closed!.id);
    expect(updates.map((u) => u.numExamples)).toEqual([3]);
    const v2 = await store.getModelVersion(INBOX_APP, 2);
    expect(v2).toMatchObject({ source: 'round', parentVersion: 1, clients: 1 });
    console.info(
      `inbox back online: the service worker's round closed as ${INBOX_APP} v2 (1 device, 3 examples, ${updates[0].byteLength} bytes uploaded) ${Date.now() - deadline + 200_000} ms after the sync event`,
    );
    await blank.close();
  }, 300_000);
});
