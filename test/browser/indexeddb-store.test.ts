/**
 * The IndexedDB client store runs the client-store contract suite
 * (client/storage/contract.ts) in real Chromium, case by case: the same cases
 * the memory store passes in Node (client/storage/memory-store.test.ts). The
 * suite is bundled for the page (Vite, IIFE) with the store it checks.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClientStoreContract } from '../../client/storage/contract.ts';
import { createMemoryStore } from '../../client/storage/memory-store.ts';
import { type BundledPage, openBundledPage } from './bundled-page.ts';

declare const StoreContract: typeof import('./indexeddb-contract-page.fixture.ts');

/** The contract's case names, read in Node by registering without running. */
const caseNames: string[] = [];
runClientStoreContract(createMemoryStore, (name) => void caseNames.push(name));

let opened: BundledPage;
let page: Page;

beforeAll(async () => {
  opened = await openBundledPage({
    entry: join(import.meta.dirname, 'indexeddb-contract-page.fixture.ts'),
    globalName: 'StoreContract',
  });
  page = opened.page;
}, 180_000);

afterAll(async () => {
  await opened?.close();
});

describe('IndexedDB ClientStore in Chromium', () => {
  it('registers the whole contract (a suite that lost its cases would pass vacuously)', () => {
    expect(caseNames.length).toBeGreaterThan(5);
  });

  it.each(caseNames)('%s', async (name) => {
    expect(await page.evaluate((n) => StoreContract.runCase(n), name)).toBeNull();
  });
});
