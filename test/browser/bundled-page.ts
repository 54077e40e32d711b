/**
 * One module of the project bundled for a page (Vite, IIFE, exposed as a
 * global), served on loopback and opened in real Chromium: for tests that run
 * platform-neutral code in the browser and compare it with Node.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './harness.ts';

export interface BundledPage {
  page: Page;
  close(): Promise<void>;
}

/**
 * @example
 * const opened = await openBundledPage({ entry: join(import.meta.dirname, 'secagg-page.fixture.ts'), globalName: 'SecAgg' });
 * await opened.page.evaluate(() => SecAgg.run());
 * await opened.close();
 */
export async function openBundledPage(o: { entry: string; globalName: string }): Promise<BundledPage> {
  const outDir = mkdtempSync(join(tmpdir(), 'flock-bundled-page-'));
  let server: ServerType | undefined;
  const close = async (browser?: { close(): Promise<void> }) => {
    await browser?.close().catch(() => {});
    if (server) await new Promise<void>((done) => server?.close(() => done()));
    rmSync(outDir, { recursive: true, force: true });
  };
  try {
    await build({
      configFile: false,
      logLevel: 'silent',
      root: join(import.meta.dirname, '..', '..'),
      build: {
        outDir,
        emptyOutDir: true,
        minify: false,
        lib: { entry: o.entry, formats: ['iife'], name: o.globalName, fileName: () => 'bundle.js' },
      },
    });
    const script = readFileSync(join(outDir, 'bundle.js'));
    const site = new Hono();
    site.get('/', (c) =>
      c.html(`<!doctype html><meta charset="utf-8"><title>${o.globalName}</title><script src="/bundle.js"></script>`),
    );
    site.get('/bundle.js', (c) => c.body(script, 200, { 'content-type': 'text/javascript' }));
    server = await new Promise<ServerType>((ready) => {
      const s = serve({ fetch: site.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
    });
    const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    await page.addInitScript('window.__name = (f) => f;');
    await page.goto(origin);
    return { page, close: () => close(browser) };
  } catch (error) {
    await close();
    throw error;
  }
}
