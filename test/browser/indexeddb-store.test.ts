/**
 * The IndexedDB client store runs the client-store contract suite
 * (client/storage/contract.ts) in real Chromium, case by case: the same cases
 * the memory store passes in Node (client/storage/memory-store.test.ts). The
 * suite is bundled for the page (Vite, IIFE) with the store it checks.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClientStoreContract } from '../../client/storage/contract.ts';
import { createMemoryStore } from '../../client/storage/memory-store.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './harness.ts';

declare const StoreContract: typeof import('./indexeddb-contract-page.fixture.ts');

/** The contract's case names, read in Node by registering without running. */
const caseNames: string[] = [];
runClientStoreContract(createMemoryStore, (name) => void caseNames.push(name));

let outDir: string;
let server: ServerType;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'flock-idb-contract-'));
  await build({
    configFile: false,
    logLevel: 'silent',
    root: join(import.meta.dirname, '..', '..'),
    build: {
      outDir,
      emptyOutDir: true,
      minify: false,
      lib: {
        entry: join(import.meta.dirname, 'indexeddb-contract-page.fixture.ts'),
        formats: ['iife'],
        name: 'StoreContract',
        fileName: () => 'contract.js',
      },
    },
  });
  const script = readFileSync(join(outDir, 'contract.js'));
  const site = new Hono();
  site.get('/', (c) =>
    c.html('<!doctype html><meta charset="utf-8"><title>store contract</title><script src="/contract.js"></script>'),
  );
  site.get('/contract.js', (c) => c.body(script, 200, { 'content-type': 'text/javascript' }));
  server = await new Promise((ready) => {
    const s = serve({ fetch: site.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  page = await browser.newPage();
  await page.addInitScript('window.__name = (f) => f;');
  await page.goto(origin);
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  if (server) await new Promise<void>((done) => server.close(() => done()));
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('IndexedDB ClientStore in Chromium', () => {
  it('registers the whole contract (a suite that lost its cases would pass vacuously)', () => {
    expect(caseNames.length).toBeGreaterThan(5);
  });

  it.each(caseNames)('%s', async (name) => {
    expect(await page.evaluate((n) => StoreContract.runCase(n), name)).toBeNull();
  });
});
