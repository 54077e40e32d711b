/**
 * Live model updates over server-sent events: a page that never polls
 * (updateIntervalMs 0) switches to a newly promoted version within seconds,
 * because the coordinator announces the new manifest generation on its SSE
 * stream and the SDK re-checks on that event.
 */
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMnistModel } from '../../shared/model/index.ts';
import { startHarness, type BrowserHarness } from './harness.ts';

declare const Flock: typeof import('../../client/index.ts');
const NAME_SHIM = 'window.__name = (f) => f;';

describe('flock.min.js live updates over SSE', () => {
  let h: BrowserHarness;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    h = await startHarness();
    const model = createMnistModel('mlp-small', { seed: 21 });
    expect(await h.pushModel('live-digits', model)).toBe(1);
    model.dispose();
  }, 180_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await h?.close();
  });

  it('switches to a promoted version on the SSE event, without polling', async () => {
    context = await h.browser.newContext();
    await context.addInitScript(NAME_SHIM);
    const page = await context.newPage();
    await page.goto(h.origin);
    const eventsSeen: string[] = [];
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (path.startsWith('/v1/apps/live-digits/')) eventsSeen.push(path);
    });
    await page.evaluate(async () => {
      const w = window as unknown as { flock: Awaited<ReturnType<typeof Flock.connect>>; updated: number[] };
      w.updated = [];
      w.flock = await Flock.connect({ url: location.origin, app: 'live-digits', backend: 'wasm', updateIntervalMs: 0 });
      w.flock.on('model-updated', ({ version }) => w.updated.push(version));
    });
    await page
      .waitForFunction(() => performance.getEntriesByType('resource').some((e) => e.name.includes('/events')), null, {
        timeout: 10_000,
      })
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1000)); // the stream is open and has said hello

    const model = createMnistModel('mlp-small', { seed: 22 });
    const started = Date.now();
    expect(await h.pushModel('live-digits', model)).toBe(2);
    model.dispose();
    await page.waitForFunction(() => (window as unknown as { updated: number[] }).updated.includes(2), null, {
      timeout: 12_000,
      polling: 100,
    });
    const seconds = (Date.now() - started) / 1000;
    const status = await page.evaluate(async () => {
      const w = window as unknown as { flock: Awaited<ReturnType<typeof Flock.connect>> };
      const s = await w.flock.status();
      await w.flock.close();
      return s;
    });
    expect(status.modelVersion).toBe(2);
    // Well under the 15 s heartbeat: the push itself announced the change.
    expect(seconds).toBeLessThan(10);
    expect(eventsSeen).toContain('/v1/apps/live-digits/events');
  }, 120_000);
});
