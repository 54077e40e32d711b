/**
 * A web developer's app, built the way theirs would be: a fresh project with
 * `flock-ml` installed from the packed tarball, a Vite page that imports the
 * SDK by the package name (`flock-ml/client`, the training worker through
 * Vite's `?worker` import of `flock-ml/worker`), the tfjs wasm files copied
 * from the package into its public folder. The coordinator is the installed
 * bin's `flock serve --cors-origin <the page's origin>`; the built page is
 * served from its own origin and, in real Chromium, connects, predicts,
 * records and trains one round in its worker, which the coordinator closes.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret } from '../../coordinator/auth/secrets.ts';
import { createTask, httpFetcher, mnistModelFiles, pushModel } from '../../coordinator/routes/fleet.fixture.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH, sampleInputs } from '../browser/harness.ts';
import { startCoordinatorProcess, type CoordinatorProcess } from '../pg/coordinator-processes.ts';
import { installTarball } from './install-tarball.ts';

const adminKey = newSecret('admin', 'consumer');

/** The app's vite.config.js once it adds Flock's plugin (wasm threads on isolated pages). */
const VITE_CONFIG = `import { flockWasmThreads } from 'flock-ml/vite';
export default { plugins: [flockWasmThreads()], build: { outDir: 'dist-threads' } };
`;
const PAGE_HTML =
  '<!doctype html><meta charset="utf-8"><title>a shop</title><script type="module" src="/main.js"></script>';
const PAGE_JS = `import { connect } from 'flock-ml/client';
import FlockTrainingWorker from 'flock-ml/worker?worker';
import { env } from '@tensorflow/tfjs';

window.flockEvents = [];
window.trainNow = false;
window.startFlock = async ({ url, taskId, input }) => {
  const flock = await connect({
    url, app: 'shop', backend: 'wasm', telemetry: false, connectTimeoutMs: 30000,
    assetsUrl: new URL('/tfjs-wasm/', location.href).href,
    train: { tasks: [taskId], eligibility: () => window.trainNow, eligibilityPollMs: 100, createWorker: () => new FlockTrainingWorker() },
  });
  for (const type of ['round-started', 'round-finished', 'error']) flock.on(type, (e) => window.flockEvents.push({ type, ...e }));
  window.flock = flock;
  const prediction = await flock.predict(new Float32Array(input));
  const status = await flock.status();
  return { label: prediction.label, backend: status.backend, modelVersion: status.modelVersion, threads: await env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') };
};
`;

function contentType(path: string): string {
  if (path.endsWith('.html')) return 'text/html; charset=utf-8';
  if (path.endsWith('.wasm')) return 'application/wasm';
  if (path.endsWith('.js')) return 'text/javascript';
  return 'application/octet-stream';
}

/** The built app's own static server, on its own origin. */
async function serveFolder(root: string, isolated = false): Promise<{ server: ServerType; origin: string }> {
  const isolation: Record<string, string> = isolated
    ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }
    : {};
  const site = new Hono();
  site.get('/*', (c) => {
    const rel = normalize(decodeURIComponent(new URL(c.req.url).pathname)).replace(/^\/+/, '') || 'index.html';
    const path = join(root, rel);
    if (rel.startsWith('..') || !existsSync(path)) return c.notFound();
    return c.body(readFileSync(path), 200, { 'content-type': contentType(path), ...isolation });
  });
  const server: ServerType = await new Promise((ready) => {
    const s = serve({ fetch: site.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('site has no port');
  return { server, origin: `http://127.0.0.1:${address.port}` };
}

describe('a Vite app that installs flock-ml and imports it by name', () => {
  let project: string;
  let browser: Browser;
  let site: { server: ServerType; origin: string };
  let isolatedSite: { server: ServerType; origin: string };
  let threadsSite: { server: ServerType; origin: string };
  let coordinator: CoordinatorProcess;
  let taskId: string;
  const figures: string[] = [];

  beforeAll(async () => {
    const installed = installTarball('flock-consumer-vite-');
    project = installed.dir;
    writeFileSync(join(project, 'index.html'), PAGE_HTML);
    writeFileSync(join(project, 'main.js'), PAGE_JS);
    const wasmDir = join(project, 'public', 'tfjs-wasm');
    mkdirSync(wasmDir, { recursive: true });
    const sdkDir = join(project, 'node_modules', 'flock-ml', 'dist', 'flock');
    for (const file of readdirSync(sdkDir).filter((f) => f.endsWith('.wasm')))
      copyFileSync(join(sdkDir, file), join(wasmDir, file));
    const vite = (...args: string[]) =>
      execFileSync(
        process.execPath,
        [join(project, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn', ...args],
        { cwd: project, stdio: 'pipe', env: { ...process.env, NODE_OPTIONS: '' } },
      );
    let started = Date.now();
    vite();
    figures.push(`vite build of the consumer app: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    writeFileSync(join(project, 'vite.config.js'), VITE_CONFIG);
    started = Date.now();
    vite();
    figures.push(
      `the same with flockWasmThreads() from flock-ml/vite: ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    site = await serveFolder(join(project, 'dist'));
    isolatedSite = await serveFolder(join(project, 'dist'), true);
    threadsSite = await serveFolder(join(project, 'dist-threads'), true);
    // The installed bin's `flock serve`, not this checkout's.
    coordinator = await startCoordinatorProcess({
      bin: installed.bin,
      cwd: project,
      adminKey,
      env: { NODE_OPTIONS: '', FLOCK_LOG_LEVEL: 'warn' },
      args: [
        '--data',
        join(project, 'flock-data'),
        ...[site.origin, isolatedSite.origin, threadsSite.origin].flatMap((o) => ['--cors-origin', o]),
      ],
    });
    const f = httpFetcher(coordinator.base);
    expect((await pushModel(f, adminKey, 'shop', await mnistModelFiles('mlp-small'), 'production')).status).toBe(201);
    const task = await createTask(f, adminKey, 'shop', 1, {
      population: 1,
      clientsPerRound: 1,
      minReports: 1,
      overSelection: 1,
      localEpochs: 1,
      batchSize: 8,
      minExamples: 10,
      noiseMultiplier: 0.5,
      clipNorm: 5,
      updateEncoding: { encoding: 'int8' },
    });
    expect(task.status).toBe(201);
    taskId = ((await task.json()) as { id: string }).id;
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  }, 420_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    for (const s of [site, isolatedSite, threadsSite])
      if (s) await new Promise<void>((done) => s.server.close(() => done()));
    if (coordinator) {
      coordinator.child.kill('SIGTERM');
      await coordinator.exited;
    }
    if (project) rmSync(project, { recursive: true, force: true });
    console.info(`\nconsumer Vite app:\n${figures.map((line) => `  ${line}`).join('\n')}`);
  });

  it('connects and predicts from its own origin, then records and trains one round in its worker', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(site.origin);
    const input = sampleInputs(1, 784, 5)[0];
    const connected = await page.evaluate(
      async (args) =>
        (
          window as unknown as {
            startFlock(a: unknown): Promise<{ label: number; backend: string; modelVersion: number }>;
          }
        ).startFlock(args),
      { url: coordinator.base, taskId, input },
    );
    expect(connected).toMatchObject({ backend: 'wasm', modelVersion: 1 });
    expect(connected.label).toBeGreaterThanOrEqual(0);
    expect(connected.label).toBeLessThan(10);

    const examples = sampleInputs(20, 784, 9);
    await page.evaluate(async (xs) => {
      const w = window as unknown as {
        flock: { record(x: Float32Array, y: number): Promise<void> };
        trainNow: boolean;
      };
      for (let i = 0; i < xs.length; i++) await w.flock.record(new Float32Array(xs[i]), i % 10);
      w.trainNow = true;
    }, examples);
    await page.waitForFunction(
      () =>
        (window as unknown as { flockEvents: { type: string }[] }).flockEvents.some(
          (e) => e.type === 'round-finished' || e.type === 'error',
        ),
      null,
      { timeout: 180_000, polling: 200 },
    );
    const events = await page.evaluate(
      () => (window as unknown as { flockEvents: Record<string, unknown>[] }).flockEvents,
    );
    const finished = events.find((e) => e.type === 'round-finished');
    expect(finished, JSON.stringify(events)).toMatchObject({ uploaded: true });

    const admin = { authorization: `Bearer ${adminKey}` };
    let rounds = 0;
    for (let i = 0; i < 100 && rounds < 1; i++) {
      rounds = (
        (await (await fetch(`${coordinator.base}/v1/admin/tasks/${taskId}`, { headers: admin })).json()) as {
          roundsCompleted: number;
        }
      ).roundsCompleted;
      if (rounds < 1) await new Promise((r) => setTimeout(r, 200));
    }
    expect(rounds).toBe(1);
    expect(errors).toEqual([]);
    figures.push(
      `page on ${site.origin}, coordinator (installed bin) on ${coordinator.base}: predicted label ${connected.label} on ${connected.backend}, trained and uploaded one round in its worker; the coordinator closed it`,
    );
    await page.close();
  }, 300_000);

  const connectIsolated = async (origin: string) => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(origin);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const connected = await page.evaluate(
      async (args) =>
        (
          window as unknown as { startFlock(a: unknown): Promise<{ label: number; backend: string; threads: boolean }> }
        ).startFlock(args),
      { url: coordinator.base, taskId, input: sampleInputs(1, 784, 5)[0] },
    );
    await page.close();
    return { connected, errors };
  };

  it('connects and predicts on a cross-origin-isolated page built without the plugin (wasm without threads)', async () => {
    const { connected, errors } = await connectIsolated(isolatedSite.origin);
    expect(connected).toMatchObject({ backend: 'wasm', threads: false });
    expect(errors).toEqual([]);
    figures.push(
      `cross-origin-isolated page, plain build: label ${connected.label} on ${connected.backend} without threads (was: connect() never settled)`,
    );
  }, 120_000);

  it('runs wasm threads on a cross-origin-isolated page built with flock-ml/vite', async () => {
    const { connected, errors } = await connectIsolated(threadsSite.origin);
    expect(connected).toMatchObject({ backend: 'wasm', threads: true });
    expect(errors).toEqual([]);
    figures.push(
      `cross-origin-isolated page, build with flockWasmThreads(): label ${connected.label} on ${connected.backend} with threads (tfjs sizes the pool to half the cores)`,
    );
  }, 120_000);
});
