/**
 * The Digits demo served the way `flock serve` serves it, for browser tests:
 * the demo built once (a lock keeps parallel test files apart), a real
 * coordinator on SQLite in a temp dir with the seeded MNIST model, the static
 * site in front of it on one loopback port, and Chromium. Helpers draw with
 * real pointer events.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { staticSite } from '../../coordinator/static/index.ts';
import { seedDemoModel } from '../../demo/seed/seed.ts';
import { CHROMIUM_PATH } from './harness.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DEMO_INDEX = join(ROOT, 'dist', 'demo', 'index.html');
const SOURCES = ['demo', 'client', 'shared', 'worker'];
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (/\.(ts|html|css)$/.test(entry.name) && !entry.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
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

/** Build dist/demo unless a build newer than its sources exists. */
export async function buildDemoOnce(): Promise<void> {
  const fresh = () =>
    existsSync(DEMO_INDEX) &&
    statSync(join(ROOT, 'dist', 'demo', 'sw.js')).mtimeMs >
      Math.max(...SOURCES.map((d) => newestSource(join(ROOT, d))));
  const lock = join(ROOT, 'dist', '.demo-build-lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      removeStaleLock(lock);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (!existsSync(DEMO_INDEX) || !fresh())
      execFileSync('npx', ['vite', 'build', '-c', 'demo/vite.config.ts'], { cwd: ROOT, stdio: 'pipe' });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface DemoFixture {
  origin: string;
  coordinator: Coordinator;
  adminKey: string;
  browser: Browser;
  close(): Promise<void>;
}

/**
 * @example
 * const demo = await startDemo();
 * const page = await (await demo.browser.newContext()).newPage();
 * await page.goto(demo.origin);
 */
export async function startDemo(): Promise<DemoFixture> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`browser tests need Chromium at ${CHROMIUM_PATH}; install it with: apt-get install -y chromium`);
  await buildDemoOnce();
  const dataDir = mkdtempSync(join(tmpdir(), 'flock-demo-'));
  const coordinator = await createCoordinator({ dataDir, log: pino({ level: 'silent' }), sweep: false });
  const adminKey = coordinator.initialAdminKey ?? '';
  // What `flock serve` does on first start, with less training to keep tests short.
  const seeded = await seedDemoModel(coordinator, { training: { examples: 3000, epochs: 2 } });
  if (!seeded.seeded) throw new Error('the demo model was not seeded');
  const site = staticSite(coordinator.app);
  if (!site.demoBuilt) throw new Error('dist/demo is missing after the build');
  const server: ServerType = await new Promise((ready) => {
    const s = serve({ fetch: site.app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no port');
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  return {
    origin: `http://127.0.0.1:${address.port}`,
    coordinator,
    adminKey,
    browser,
    async close() {
      await browser.close().catch(() => {});
      await new Promise<void>((done) => server.close(() => done()));
      await coordinator.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A vertical stroke, drawn with real pointer events through the mouse. */
export async function drawOne(page: Page): Promise<void> {
  await page.locator('#clear').click();
  const box = await page.locator('#pad').boundingBox();
  if (!box) throw new Error('the drawing pad is not visible');
  const x = box.x + box.width * 0.5;
  await page.mouse.move(x, box.y + box.height * 0.18);
  await page.mouse.down();
  for (let i = 1; i <= 12; i++) await page.mouse.move(x + i * 0.4, box.y + box.height * (0.18 + (0.64 * i) / 12));
  await page.mouse.up();
}

/** The label the page shows once its prediction is in. */
export async function predictedLabel(page: Page): Promise<string> {
  await page.waitForFunction(() => /^\d$/.test(document.getElementById('label')?.textContent ?? ''), undefined, {
    timeout: 30_000,
  });
  return (await page.locator('#label').textContent()) ?? '';
}
