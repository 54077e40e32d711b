/**
 * Secure aggregation gives the same bytes in Chromium as in Node (issue 17):
 * shared/secagg bundled for the page (Vite, IIFE) and run in real Chromium.
 * The mask stream's fixed vector and 5,000 words of a pairwise stream equal
 * Node's; an X25519 agreement between a Node key and a Chromium key gives
 * one secret on both sides; and a whole round of 10 devices with one dropout
 * unmasks in the browser to the plain sum mod 2^32 that Node computes.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToHex } from '../../shared/manifest/bytes.ts';
import { testPrng } from '../../shared/secagg/in-memory-round.fixture.ts';
import { maskStream, pairContext, quantise, selfMaskContext } from '../../shared/secagg/index.ts';
import { agree, exportPublicKey, generateX25519, importPublicKey } from '../../shared/secagg/x25519.ts';
import { type BundledPage, openBundledPage } from './bundled-page.ts';

declare const SecAgg: typeof import('./secagg-page.fixture.ts');
const SEED = Array.from({ length: 32 }, (_, i) => i);
const Q = { clipRange: 0.1, bits: 20, maxDevices: 10 };
const D = 64;

let opened: BundledPage;
let page: Page;

beforeAll(async () => {
  opened = await openBundledPage({ entry: join(import.meta.dirname, 'secagg-page.fixture.ts'), globalName: 'SecAgg' });
  page = opened.page;
}, 180_000);

afterAll(async () => {
  await opened?.close();
});

describe('shared/secagg in Chromium', () => {
  it('gives the mask stream bytes Node gives: the fixed vector and 5,000 words of a pairwise stream', async () => {
    const seed = Uint8Array.from(SEED);
    const node = {
      vector: Array.from(await maskStream(seed, selfMaskContext('round-1', 'device-a'), 8)),
      pair: bytesToHex(
        new Uint8Array((await maskStream(seed, pairContext('round-7', 'device-b', 'device-a'), 5000)).buffer),
      ),
    };
    const browserSide = await page.evaluate(async (s) => {
      const seedBytes = Uint8Array.from(s);
      const pair = await SecAgg.maskStream(seedBytes, SecAgg.pairContext('round-7', 'device-b', 'device-a'), 5000);
      return {
        vector: Array.from(await SecAgg.maskStream(seedBytes, SecAgg.selfMaskContext('round-1', 'device-a'), 8)),
        pair: Array.from(new Uint8Array(pair.buffer), (b) => b.toString(16).padStart(2, '0')).join(''),
      };
    }, SEED);
    expect(node.vector).toEqual([
      3405871230, 3223983550, 2148707383, 3394171072, 2425349445, 1776833896, 1862339063, 2231115679,
    ]);
    expect(browserSide.vector).toEqual(node.vector);
    expect(browserSide.pair).toBe(node.pair);
  });

  it('agrees one X25519 secret between a key made in Node and a key made in Chromium', async () => {
    const nodeKeys = await generateX25519();
    const nodePublic = await exportPublicKey(nodeKeys.publicKey);
    const chromiumSide = await page.evaluate(async (peer) => {
      const keys = await SecAgg.generateX25519();
      const secret = await SecAgg.agree(keys.privateKey, await SecAgg.importPublicKey(peer, 'node'), 'node');
      return {
        publicKey: await SecAgg.exportPublicKey(keys.publicKey),
        secret: Array.from(secret, (b) => b.toString(16).padStart(2, '0')).join(''),
      };
    }, nodePublic);
    const nodeSecret = bytesToHex(
      await agree(nodeKeys.privateKey, await importPublicKey(chromiumSide.publicKey, 'chromium'), 'chromium'),
    );
    expect(chromiumSide.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(chromiumSide.secret).toBe(nodeSecret);
  });

  it('runs a whole round of 10 devices (one drops before its masked input) and unmasks to the plain sum', async () => {
    const rand = testPrng(5);
    const inputs = Array.from({ length: 10 }, () =>
      Array.from(
        quantise(
          Float32Array.from({ length: D }, () => (rand() - 0.5) * 0.2),
          Q,
        ),
      ),
    );
    const outcome = await page.evaluate(async (xs) => {
      const round = await SecAgg.runInMemoryRound({
        inputs: xs.map((x) => Uint32Array.from(x)),
        parameters: (n: number) => ({ neighbours: n - 1, threshold: SecAgg.safeThreshold(n - 1, 0), colluders: 0 }),
        drops: { 'masked-input': new Set([SecAgg.deviceIdAt(3)]) },
      });
      return {
        error: round.error?.message ?? null,
        survivors: round.result?.survivors ?? [],
        dropped: round.result?.dropped ?? [],
        sum: Array.from(round.result?.sum ?? []),
      };
    }, inputs);
    expect(outcome.error).toBeNull();
    expect(outcome.dropped).toEqual(['device-0003']);
    const plain = new Uint32Array(D);
    for (const id of outcome.survivors)
      for (let i = 0; i < D; i++) plain[i] += inputs[Number(id.slice('device-'.length))][i];
    expect(outcome.survivors).toHaveLength(9);
    expect(outcome.sum).toEqual(Array.from(plain));
  }, 120_000);
});
