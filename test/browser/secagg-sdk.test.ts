/**
 * A secure-aggregation round in real Chromium through the SDK (issue 17):
 * three browser contexts connect() to a real coordinator on loopback with a
 * task whose plan asks for secure aggregation. Each page's training worker
 * trains, keeps the update, and runs the SecAgg+ phases (keys, shares, DDG
 * encoding, masking, unmasking); the page only carries the phase messages.
 * Every device finishes its round with no error, none uses the plain upload,
 * and the coordinator's round shows three devices through every phase.
 */
import * as tf from '@tensorflow/tfjs';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../simulate/datasets/mnist.ts';
import { type BrowserHarness, startHarness } from './harness.ts';

declare const Flock: typeof import('../../client/index.ts');

const APP = 'secagg-digits';
const EXAMPLES = 32;

type PageEvent = { type: string; roundId?: string; uploaded?: boolean; message?: string };
type SecWindow = Window & { flock: Awaited<ReturnType<typeof Flock.connect>>; flockEvents: PageEvent[] };

async function joinTask(page: Page, taskId: string, images: number[][], labels: number[]): Promise<void> {
  await page.evaluate(
    async ({ app, taskId, images, labels }) => {
      const w = window as unknown as SecWindow;
      w.flockEvents = [];
      let go = false;
      w.flock = await Flock.connect({
        url: location.origin,
        app,
        train: { tasks: [taskId], eligibility: () => go, eligibilityPollMs: 100 },
      });
      for (const type of ['round-started', 'round-finished', 'error'] as const) {
        w.flock.on(type, (e) =>
          w.flockEvents.push({
            type,
            ...('roundId' in e ? { roundId: e.roundId } : {}),
            ...('uploaded' in e ? { uploaded: e.uploaded } : {}),
            ...('error' in e ? { message: e.error.message } : {}),
          }),
        );
      }
      for (let i = 0; i < images.length; i++) await w.flock.record(new Float32Array(images[i]), labels[i]);
      go = true;
    },
    { app: APP, taskId, images, labels },
  );
}

describe('secure aggregation through the SDK in Chromium', () => {
  let h: BrowserHarness;
  const contexts: BrowserContext[] = [];
  const auth = () => ({ authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' });

  beforeAll(async () => {
    h = await startHarness();
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [784], units: 10, activation: 'softmax', name: 'output' })],
    });
    expect(await h.pushModel(APP, model)).toBe(1);
    model.dispose();
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await h?.close();
  });

  it('three pages run one secure round in their training workers; the coordinator sees 3 through every phase', async () => {
    const res = await fetch(`${h.origin}/v1/admin/tasks`, {
      method: 'POST',
      headers: auth(),
      body: JSON.stringify({
        app: APP,
        modelVersion: 1,
        plan: {
          population: 3,
          clientsPerRound: 3,
          minReports: 3,
          overSelection: 1,
          roundDeadlineSeconds: 120,
          localEpochs: 1,
          batchSize: 16,
          learningRate: 0.1,
          clipNorm: 1,
          minExamples: 10,
          secureAggregation: { bits: 20, minSurvivors: 3 },
        },
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const taskId = ((await res.json()) as { id: string }).id;
    const pages: Page[] = [];
    for (let i = 0; i < 3; i++) {
      const context = await h.browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(h.origin);
      pages.push(page);
    }
    await Promise.all(
      pages.map((page, i) => {
        const data = loadMnist({ split: 'train', offset: i * EXAMPLES, limit: EXAMPLES });
        const images = Array.from({ length: data.count }, (_, j) =>
          Array.from(data.images.subarray(j * 784, (j + 1) * 784)),
        );
        return joinTask(page, taskId, images, Array.from(data.labels));
      }),
    );
    await Promise.all(
      pages.map((page) =>
        page.waitForFunction(
          () => (window as unknown as SecWindow).flockEvents.some((e) => e.type === 'round-finished'),
          null,
          { timeout: 120_000, polling: 200 },
        ),
      ),
    );
    const events = await Promise.all(pages.map((p) => p.evaluate(() => (window as unknown as SecWindow).flockEvents)));
    const roundIds = new Set<string>();
    for (const e of events) {
      expect(e.filter((x) => x.type === 'error')).toEqual([]);
      const finished = e.find((x) => x.type === 'round-finished');
      expect(finished).toMatchObject({ uploaded: true });
      roundIds.add(finished?.roundId as string);
    }
    expect(roundIds.size).toBe(1);
    const roundId = [...roundIds][0];
    const until = Date.now() + 30_000;
    let round: { state: string; secureAggregation?: Record<string, unknown> | null } | undefined;
    while (Date.now() < until) {
      const body = (await (await fetch(`${h.origin}/v1/admin/tasks/${taskId}/rounds`, { headers: auth() })).json()) as {
        rounds: Array<{ id: string; state: string; secureAggregation?: Record<string, unknown> | null }>;
      };
      round = body.rounds.find((r) => r.id === roundId);
      if (round?.state === 'closed') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(round).toMatchObject({
      state: 'closed',
      secureAggregation: { phase: 'done', selected: 3, advertised: 3, shared: 3, masked: 3, unmasked: 3 },
    });
  }, 200_000);
});
