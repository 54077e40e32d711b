/**
 * The SDK embedded in someone else's site: a page on one origin (its own
 * server, hosting flock.min.js itself) and the coordinator on another, in real
 * Chromium. With `corsOrigins` naming the page it connects and predicts; a
 * page the coordinator does not allow gets FlockError 'unreachable' naming
 * the flag, never 'no_model'; a cross-origin-isolated page (COOP/COEP, so
 * wasm threads) connects too; and a page that loads flock.min.js from the
 * coordinator itself (`/sdk/`) connects, predicts, records and trains one
 * round in its worker (a Worker cannot be started from another origin's
 * script, so the SDK starts it through a same-origin Blob).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { pino } from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { staticSite } from '../../coordinator/static/index.ts';
import { writeModelDirectory } from '../../coordinator/registry/index.ts';
import { createMnistModel } from '../../shared/model/index.ts';
import { buildSdkOnce, CHROMIUM_ARGS, CHROMIUM_PATH, SDK_DIR, sampleInputs } from './harness.ts';

declare const Flock: typeof import('../../client/index.ts');
const NAME_SHIM = 'window.__name = (f) => f;';
const INPUT = sampleInputs(1, 784, 5)[0];

async function listen(
  fetch: (r: Request) => Response | Promise<Response>,
): Promise<{ server: ServerType; origin: string }> {
  const server: ServerType = await new Promise((ready) => {
    const s = serve({ fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no port');
  return { server, origin: `http://127.0.0.1:${address.port}` };
}

/** A stranger's site: its own page and its own copy of the SDK; `isolated` adds COOP/COEP. */
function siteApp(isolated: boolean): Hono {
  const site = new Hono();
  const isolation: Record<string, string> = isolated
    ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }
    : {};
  site.get('/', (c) =>
    c.html(
      '<!doctype html><meta charset="utf-8"><title>a shop</title><script src="/vendor/flock.min.js"></script>',
      200,
      isolation,
    ),
  );
  site.get('/vendor/:file', (c) => {
    const path = join(SDK_DIR, c.req.param('file'));
    if (c.req.param('file').includes('..') || !existsSync(path)) return c.notFound();
    const type = path.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
    return c.body(readFileSync(path), 200, { 'content-type': type, ...isolation });
  });
  return site;
}

/** A stranger's site that takes the SDK from the coordinator's `/sdk/` (the origin is known once the coordinator listens). */
function embeddingSiteApp(apiOrigin: () => string): Hono {
  const site = new Hono();
  site.get('/', (c) =>
    c.html(
      `<!doctype html><meta charset="utf-8"><title>a blog</title><script src="${apiOrigin()}/sdk/flock.min.js"></script>`,
    ),
  );
  return site;
}

describe('flock.min.js on another origin than the coordinator', () => {
  let browser: Browser;
  let coordinator: Coordinator;
  let dataDir: string;
  const servers: ServerType[] = [];
  let api: string;
  let allowed: string;
  let isolated: string;
  let stranger: string;
  let embedding: string;

  beforeAll(async () => {
    await buildSdkOnce();
    // Page servers first: the coordinator is told their origins.
    const sites = await Promise.all([
      listen(siteApp(false).fetch),
      listen(siteApp(true).fetch),
      listen(siteApp(false).fetch),
      listen(embeddingSiteApp(() => api).fetch),
    ]);
    servers.push(...sites.map((s) => s.server));
    [allowed, isolated, stranger, embedding] = sites.map((s) => s.origin);
    dataDir = mkdtempSync(join(tmpdir(), 'flock-cross-origin-'));
    coordinator = await createCoordinator({
      dataDir,
      log: pino({ level: 'silent' }),
      sweep: false,
      corsOrigins: [allowed, isolated, embedding],
    });
    const listened = await listen(staticSite(coordinator.app).app.fetch);
    servers.push(listened.server);
    api = listened.origin;
    const modelDir = join(dataDir, 'model');
    const model = createMnistModel('mlp-small', { seed: 5 });
    await writeModelDirectory(model, modelDir);
    model.dispose();
    const form = new FormData();
    for (const name of ['model.json', 'weights.bin'])
      form.append(name, new Blob([readFileSync(join(modelDir, name))]), name);
    form.append('stage', 'production');
    const pushed = await fetch(`${api}/v1/admin/models/digits`, {
      method: 'POST',
      headers: { authorization: `Bearer ${coordinator.initialAdminKey}` },
      body: form,
    });
    expect(pushed.status).toBe(201);
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  }, 180_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    for (const s of servers) await new Promise<void>((done) => s.close(() => done()));
    await coordinator?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const connectFrom = async (origin: string, backend: 'wasm' | 'cpu' | undefined) => {
    const context = await browser.newContext();
    await context.addInitScript(NAME_SHIM);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(origin);
    const result = await page.evaluate(
      async ({ url, input, backend }) => {
        try {
          const flock = await Flock.connect({
            url,
            app: 'digits',
            backend,
            assetsUrl: `${location.origin}/vendor/`,
            connectTimeoutMs: 30_000,
            telemetry: false,
          });
          const p = await flock.predict(input);
          const status = await flock.status();
          await flock.close();
          return { ok: true as const, label: p.label, backend: status.backend, isolated: crossOriginIsolated };
        } catch (e) {
          return { ok: false as const, code: (e as { code?: string }).code, message: String((e as Error).message) };
        }
      },
      { url: api, input: INPUT, backend },
    );
    await context.close();
    return { result, errors };
  };

  it('connects and predicts from a page the coordinator allows (--cors-origin)', async () => {
    const { result, errors } = await connectFrom(allowed, 'wasm');
    expect(result).toMatchObject({ ok: true, backend: 'wasm' });
    expect(errors).toEqual([]);
  }, 120_000);

  it('tells a page it does not allow that it is unreachable and names the flag, not "no model"', async () => {
    const { result } = await connectFrom(stranger, 'wasm');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('unreachable');
    expect(result.message).toContain(`--cors-origin ${stranger}`);
  }, 120_000);

  it('connects from a cross-origin-isolated page (COOP/COEP) on wasm with threads', async () => {
    const { result, errors } = await connectFrom(isolated, 'wasm');
    expect(result).toMatchObject({ ok: true, backend: 'wasm', isolated: true });
    expect(errors).toEqual([]);
  }, 120_000);

  it("from the coordinator's /sdk/ on another origin: connects, predicts, records and trains one round in its worker", async () => {
    const admin = { authorization: `Bearer ${coordinator.initialAdminKey}`, 'content-type': 'application/json' };
    const created = await fetch(`${api}/v1/admin/tasks`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        app: 'digits',
        modelVersion: 1,
        plan: {
          population: 1,
          clientsPerRound: 1,
          minReports: 1,
          overSelection: 1,
          localEpochs: 1,
          batchSize: 8,
          minExamples: 10,
          clipNorm: 5,
          noiseMultiplier: 0.5,
          updateEncoding: { encoding: 'int8' },
        },
      }),
    });
    expect(created.status).toBe(201);
    const taskId = ((await created.json()) as { id: string }).id;
    const context = await browser.newContext();
    await context.addInitScript(NAME_SHIM);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(embedding);
    const examples = sampleInputs(20, 784, 13);
    const result = await page.evaluate(
      async ({ url, input, xs, taskId }) => {
        const events: { type: string; uploaded?: boolean }[] = [];
        let trainNow = false;
        const flock = await Flock.connect({
          url,
          app: 'digits',
          backend: 'wasm',
          connectTimeoutMs: 30_000,
          telemetry: false,
          train: { tasks: [taskId], eligibility: () => trainNow, eligibilityPollMs: 100 },
        });
        flock.on('round-finished', (e) => events.push({ type: 'round-finished', uploaded: e.uploaded }));
        flock.on('error', (e) => events.push({ type: `error: ${e.error.message}` }));
        const p = await flock.predict(input);
        for (let i = 0; i < xs.length; i++) await flock.record(new Float32Array(xs[i]), i % 10);
        trainNow = true;
        const until = Date.now() + 150_000;
        while (!events.length && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
        const status = await flock.status();
        await flock.close();
        return { label: p.label, backend: status.backend, trainingBackend: status.trainingBackend, events };
      },
      { url: api, input: INPUT, xs: examples, taskId },
    );
    await context.close();
    expect(result.events).toEqual([{ type: 'round-finished', uploaded: true }]);
    expect(result.backend).toBe('wasm');
    let rounds = 0;
    for (let i = 0; i < 100 && rounds < 1; i++) {
      rounds = (
        (await (await fetch(`${api}/v1/admin/tasks/${taskId}`, { headers: admin })).json()) as {
          roundsCompleted: number;
        }
      ).roundsCompleted;
      if (rounds < 1) await new Promise((r) => setTimeout(r, 200));
    }
    expect(rounds).toBe(1);
    expect(errors).toEqual([]);
  }, 240_000);
});
