/**
 * One browser-test harness per test file: a real coordinator (SQLite in a
 * temp dir), one loopback HTTP server that serves the built SDK under /sdk/,
 * a test page at /, and passes everything else to the coordinator (same
 * origin, so no CORS), and Debian's Chromium through playwright-core.
 *
 * The SDK bundle is built once per test run (a lock directory keeps parallel
 * test files from building at the same time; a bundle newer than every
 * client/shared source is reused).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { pino } from 'pino';
import { chromium, type Browser } from 'playwright-core';
import * as tf from '@tensorflow/tfjs';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { writeModelDirectory } from '../../coordinator/registry/index.ts';
import { decodeTensors } from '../../shared/codec/index.ts';
import { modelFromParts } from '../../shared/model/index.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';
const ROOT = resolve(import.meta.dirname, '..', '..');
export const SDK_DIR = join(ROOT, 'dist', 'flock');
const BUNDLE = join(SDK_DIR, 'flock.min.js');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
];

export const TEST_PAGE =
  '<!doctype html><meta charset="utf-8"><title>flock browser test</title><script src="/sdk/flock.min.js"></script>';

function newestSourceMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMtime(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * Remove a build lock older than 3 minutes (a killed run). Another test file
 * may remove the lock between our failed mkdir and the stat (ENOENT): that
 * just means the lock is free, so the caller retries mkdir.
 */
function removeStaleLock(lock: string): void {
  try {
    if (Date.now() - statSync(lock).mtimeMs > 180_000) rmSync(lock, { recursive: true, force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Build dist/flock unless a bundle newer than the sources exists. */
export async function buildSdkOnce(): Promise<void> {
  const fresh = () =>
    existsSync(BUNDLE) &&
    statSync(BUNDLE).mtimeMs >
      Math.max(newestSourceMtime(join(ROOT, 'client')), newestSourceMtime(join(ROOT, 'shared')));
  const lock = join(ROOT, 'dist', '.flock-build-lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another test file is building; a lock older than 3 minutes is stale (a killed run).
      removeStaleLock(lock);
      await sleep(200);
    }
  }
  try {
    if (!fresh())
      execFileSync('npx', ['vite', 'build', '-c', 'client/vite.lib.config.ts'], { cwd: ROOT, stdio: 'pipe' });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface BrowserHarness {
  /** Origin of the same-origin server (page, SDK, coordinator). */
  origin: string;
  coordinator: Coordinator;
  adminKey: string;
  browser: Browser;
  /** Push `model` for `app` at stage production; returns the new version number. */
  pushModel(app: string, model: tf.LayersModel): Promise<number>;
  /** The app's production model as a device would build it from `encoding`'s variant, in Node. */
  referenceModel(app: string, encoding: 'fp32' | 'fp16' | 'int8'): Promise<tf.LayersModel>;
  close(): Promise<void>;
}

/**
 * @example
 * const h = await startHarness();
 * const page = await (await h.browser.newContext()).newPage();
 * await page.goto(h.origin);
 */
export async function startHarness(): Promise<BrowserHarness> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`browser tests need Chromium at ${CHROMIUM_PATH}; install it with: apt-get install -y chromium`);
  }
  await buildSdkOnce();
  const dataDir = mkdtempSync(join(tmpdir(), 'flock-browser-'));
  const coordinator = await createCoordinator({ dataDir, log: pino({ level: 'silent' }), sweep: false });
  const adminKey = coordinator.initialAdminKey;
  if (adminKey === null) throw new Error('a fresh coordinator should print an initial admin key');

  const outer = new Hono();
  outer.get('/', (c) => c.html(TEST_PAGE, 200, { 'cache-control': 'max-age=600' }));
  outer.get('/sdk/:file', (c) => {
    const file = c.req.param('file');
    const path = join(SDK_DIR, file);
    if (file.includes('..') || !existsSync(path)) return c.notFound();
    const type = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
    return c.body(readFileSync(path), 200, { 'content-type': type, 'cache-control': 'max-age=600' });
  });
  outer.all('*', (c) => coordinator.app.fetch(c.req.raw, c.env));
  const server: ServerType = await new Promise((ready) => {
    const s = serve({ fetch: outer.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no port');
  const origin = `http://127.0.0.1:${address.port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  const auth = { authorization: `Bearer ${adminKey}` };

  return {
    origin,
    coordinator,
    adminKey,
    browser,
    async pushModel(app, model) {
      const dir = mkdtempSync(join(tmpdir(), 'flock-model-'));
      try {
        await writeModelDirectory(model, dir);
        const form = new FormData();
        for (const name of ['model.json', 'weights.bin'])
          form.append(name, new Blob([readFileSync(join(dir, name))]), name);
        form.append('stage', 'production');
        const res = await fetch(`${origin}/v1/admin/models/${app}`, { method: 'POST', headers: auth, body: form });
        if (res.status !== 201) throw new Error(`model push answered ${res.status}: ${await res.text()}`);
        return ((await res.json()) as { version: number }).version;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    async referenceModel(app, encoding) {
      const reg = await fetch(`${origin}/v1/devices`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ app, platform: { runtime: 'node' } }),
      });
      const { token } = (await reg.json()) as { token: string };
      const device = { authorization: `Bearer ${token}` };
      const signed = (await (await fetch(`${origin}/v1/apps/${app}/manifest`, { headers: device })).json()) as {
        manifest: { modelTopologyHash: string; variants: { encoding: string; shards: { hash: string }[] }[] };
      };
      const blob = async (hash: string) =>
        new Uint8Array(await (await fetch(`${origin}/v1/blobs/${hash}`, { headers: device })).arrayBuffer());
      const variant = signed.manifest.variants.find((v) => v.encoding === encoding);
      if (!variant) throw new Error(`no ${encoding} variant`);
      const parts = await Promise.all(variant.shards.map((s) => blob(s.hash)));
      const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      const tensors = decodeTensors(bytes);
      const { topologyHash: _h, ...topology } = JSON.parse(
        new TextDecoder().decode(await blob(signed.manifest.modelTopologyHash)),
      ) as Record<string, unknown>;
      return modelFromParts({
        topology,
        weightSpecs: tensors.map((t) => ({ name: t.name, shape: t.shape })),
        weights: tensors.map((t) => t.data),
      });
    },
    async close() {
      await browser.close().catch(() => {});
      await new Promise<void>((done) => server.close(() => done()));
      await coordinator.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Deterministic pseudo-random inputs in [0, 1) (a fixed LCG: the same every run). */
export function sampleInputs(count: number, size: number, seed = 7): number[][] {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Array.from({ length: count }, () => Array.from({ length: size }, next));
}

/** Node-side predictions (tfjs cpu backend) for `inputs`, one row per input. */
export async function predictInNode(
  model: tf.LayersModel,
  inputs: number[][],
  exampleShape: number[],
): Promise<number[][]> {
  const x = tf.tensor(inputs.flat(), [inputs.length, ...exampleShape]);
  const y = model.predict(x) as tf.Tensor;
  const rows = (await y.array()) as number[][];
  x.dispose();
  y.dispose();
  return rows;
}
