/**
 * Federated training in real Chromium against a real coordinator: three
 * browser contexts (three devices) with recorded MNIST examples join one
 * round of a small CNN on the wasm backend (which trains only thanks to
 * Flock's Conv2DBackpropFilter kernel) and their updates make a new version
 * on the coordinator. Then one device alone trains while a PerformanceObserver
 * watches its main thread: its total blocking time stays a small share of the
 * worker's training time. This file runs alone, after the rest of the suite
 * (see vite.config.ts), so other test files do not steal the main thread's core.
 *
 * Why the long-task check runs on one device: three pages and three training
 * workers on this 2-core machine preempt each other's threads, and a 5 ms
 * main-thread task that the OS deschedules is reported as a 500 ms long task
 * (measured: 2 of 3 pages saw 55-525 ms tasks in the three-device round,
 * none with one device). A real device runs one page, not three.
 */
import * as tf from '@tensorflow/tfjs';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../simulate/datasets/mnist.ts';
import { startHarness, type BrowserHarness } from './harness.ts';

declare const Flock: typeof import('../../client/index.ts');

const APP = 'cnn-digits';
const EXAMPLES = 48;

/** conv 3x3x8 / pool / dense 10: small enough for three trainers on two cores. */
function smallCnn(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const model = tf.sequential({ name: 'small_cnn' });
  model.add(
    tf.layers.conv2d({
      name: 'conv1',
      inputShape: [28, 28, 1],
      filters: 8,
      kernelSize: 3,
      activation: 'relu',
      kernelInitializer: init(1),
    }),
  );
  model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ name: 'output', units: 10, activation: 'softmax', kernelInitializer: init(2) }));
  return model;
}

type PageEvent = { type: string; roundId?: string; uploaded?: boolean; message?: string; at: number };
type TrainWindow = Window & {
  flock: Awaited<ReturnType<typeof Flock.connect>>;
  trainNow: boolean;
  flockEvents: PageEvent[];
  longTasks: Array<{ start: number; duration: number }>;
  trainingStartedAt: number;
};

/** Connect with training on (held back by the policy), record the examples, watch long tasks, then allow training. */
async function joinTask(page: Page, taskId: string, images: number[][], labels: number[]): Promise<void> {
  await page.evaluate(
    async ({ app, taskId, images, labels }) => {
      const w = window as unknown as TrainWindow;
      w.trainNow = false;
      w.flockEvents = [];
      w.longTasks = [];
      w.flock = await Flock.connect({
        url: location.origin,
        app,
        backend: 'wasm',
        // Tests cannot hide a page, so the eligibility policy is injected: train once the test says so.
        train: { tasks: [taskId], eligibility: () => w.trainNow, eligibilityPollMs: 100 },
      });
      for (const type of ['round-started', 'round-finished', 'error'] as const) {
        w.flock.on(type, (e) =>
          w.flockEvents.push({
            type,
            at: performance.now(),
            ...('roundId' in e ? { roundId: e.roundId } : {}),
            ...('uploaded' in e ? { uploaded: e.uploaded } : {}),
            ...('error' in e ? { message: e.error.message } : {}),
          }),
        );
      }
      for (let i = 0; i < images.length; i++) await w.flock.record(new Float32Array(images[i]), labels[i]);
      // Installed after the model loaded and the examples were stored, before training may start.
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.longTasks.push({ start: e.startTime, duration: e.duration });
      }).observe({ type: 'longtask' });
      w.trainingStartedAt = performance.now();
      w.trainNow = true;
    },
    { app: APP, taskId, images, labels },
  );
}

/** Total blocking time in [from, to): what each long task spent there beyond 50 ms. */
function totalBlockingMs(tasks: Array<{ start: number; duration: number }>, from: number, to: number): number {
  let blocked = 0;
  for (const t of tasks) {
    const inside = Math.min(to, t.start + t.duration) - Math.max(from, t.start);
    blocked += Math.max(0, inside - 50);
  }
  return blocked;
}

async function pageResult(page: Page) {
  return page.evaluate(async () => {
    const w = window as unknown as TrainWindow;
    const mark = (name: string) => performance.getEntriesByName(name, 'mark')[0]?.startTime ?? Number.NaN;
    const worker = { start: mark('flock:train-start'), end: mark('flock:train-end') };
    return {
      events: w.flockEvents,
      longTasks: w.longTasks,
      startedAt: w.trainingStartedAt,
      worker,
      status: await w.flock.status(),
    };
  });
}

describe('federated training in Chromium', () => {
  let h: BrowserHarness;
  const contexts: BrowserContext[] = [];
  const auth = () => ({ authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' });
  const createTask = async (plan: Record<string, unknown>) => {
    const res = await fetch(`${h.origin}/v1/admin/tasks`, {
      method: 'POST',
      headers: auth(),
      body: JSON.stringify({ app: APP, modelVersion: 1, plan }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const versions = async () =>
    (
      (await (await fetch(`${h.origin}/v1/admin/models/${APP}/versions`, { headers: auth() })).json()) as {
        versions: Array<{ version: number }>;
      }
    ).versions.map((v) => v.version);
  const mnist = (offset: number) => {
    const data = loadMnist({ split: 'train', offset, limit: EXAMPLES });
    const images = Array.from({ length: data.count }, (_, i) =>
      Array.from(data.images.subarray(i * 784, (i + 1) * 784)),
    );
    return { images, labels: Array.from(data.labels) };
  };
  const newPage = async () => {
    const context = await h.browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(h.origin);
    return { context, page };
  };

  beforeAll(async () => {
    h = await startHarness();
    const model = smallCnn();
    expect(await h.pushModel(APP, model)).toBe(1);
    model.dispose();
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await h?.close();
  });

  it('three devices train a CNN on wasm in workers, one round closes with a new version', async () => {
    const taskId = await createTask({
      population: 3,
      clientsPerRound: 3,
      minReports: 3,
      overSelection: 1,
      roundDeadlineSeconds: 120,
      localEpochs: 1,
      batchSize: 16,
      learningRate: 0.1,
      clipNorm: 5,
      minExamples: 10,
      updateEncoding: { encoding: 'int8' },
    });
    const pages = await Promise.all([0, 1, 2].map(() => newPage().then((p) => p.page)));
    await Promise.all(
      pages.map((page, i) => {
        const { images, labels } = mnist(i * EXAMPLES);
        return joinTask(page, taskId, images, labels);
      }),
    );
    await Promise.all(
      pages.map((page) =>
        page.waitForFunction(
          () => (window as unknown as TrainWindow).flockEvents.some((e) => e.type === 'round-finished'),
          null,
          { timeout: 120_000, polling: 200 },
        ),
      ),
    );

    const results = await Promise.all(pages.map(pageResult));
    const roundIds = new Set<string>();
    for (const r of results) {
      expect(r.events.filter((e) => e.type === 'error')).toEqual([]);
      const finished = r.events.find((e) => e.type === 'round-finished');
      expect(finished).toMatchObject({ uploaded: true });
      roundIds.add(finished!.roundId!);
      expect(r.status).toMatchObject({
        backend: 'wasm',
        trainingBackend: 'wasm',
        pendingUploads: 0,
        examples: EXAMPLES,
      });
    }
    expect(roundIds.size).toBe(1);

    // The round reached its quorum of 3 and registered version 2.
    const until = Date.now() + 30_000;
    while (!(await versions()).includes(2) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    expect(await versions()).toContain(2);
    const rounds = (await (await fetch(`${h.origin}/v1/admin/tasks/${taskId}/rounds`, { headers: auth() })).json()) as {
      rounds: Array<{ id: string; reports: number; state: string; resultVersion: number | null }>;
    };
    expect(rounds.rounds.find((r) => r.id === [...roundIds][0])).toMatchObject({
      state: 'closed',
      reports: 3,
      resultVersion: 2,
    });
  }, 170_000);

  it('one device trains the CNN on wasm without blocking its main thread', async () => {
    const taskId = await createTask({
      population: 1,
      clientsPerRound: 1,
      minReports: 1,
      overSelection: 1,
      roundDeadlineSeconds: 120,
      localEpochs: 30,
      batchSize: 16,
      learningRate: 0.1,
      clipNorm: 5,
      minExamples: 10,
      updateEncoding: { encoding: 'topk', topkFraction: 0.1 },
    });
    const { page } = await newPage();
    const { images, labels } = mnist(3 * EXAMPLES);
    await joinTask(page, taskId, images, labels);
    await page.waitForFunction(
      () => (window as unknown as TrainWindow).flockEvents.some((e) => e.type === 'round-finished'),
      null,
      { timeout: 120_000, polling: 200 },
    );
    const r = await pageResult(page);
    expect(r.events.filter((e) => e.type === 'error')).toEqual([]);
    const started = r.events.find((e) => e.type === 'round-started')!;
    const finished = r.events.find((e) => e.type === 'round-finished')!;
    expect(finished).toMatchObject({ uploaded: true });
    expect(r.status).toMatchObject({ backend: 'wasm', trainingBackend: 'wasm', pendingUploads: 0 });
    // The worker really trained for a while inside the round (so the observer watched something)...
    expect(r.worker.start).toBeGreaterThan(started.at);
    expect(r.worker.end).toBeLessThan(finished.at);
    // (30 epochs of 144 examples: ~1-6 s here; the bound only proves training was observed, not a speed.)
    expect(r.worker.end - r.worker.start).toBeGreaterThan(300);
    // ...and the main thread stayed free: its total blocking time (the part of
    // each long task beyond 50 ms) while the worker trained is a small share of
    // the training time. Training on the main thread would block it for most
    // of that time (tfjs fit yields only every ~125 ms). A share, not "no long
    // task at all": the OS deschedules Chromium's main thread on a loaded
    // 2-core machine, and a 5 ms task then shows up as an 85 ms one (seen in CI).
    const trainMs = r.worker.end - r.worker.start;
    const blockedMs = totalBlockingMs(r.longTasks, r.worker.start, r.worker.end);
    expect(blockedMs / trainMs, JSON.stringify({ worker: r.worker, blockedMs, all: r.longTasks })).toBeLessThan(0.15);
    // Control, same page and observer: work done on the main thread in 200 ms
    // slices with a yield between them is seen as blocking most of the time.
    const control = await page.evaluate(async () => {
      const w = window as unknown as TrainWindow;
      const from = performance.now();
      for (let slice = 0; slice < 8; slice++) {
        const until = performance.now() + 200;
        while (performance.now() < until);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      const to = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 200)); // let the observer deliver
      return { from, to, longTasks: w.longTasks };
    });
    const controlShare = totalBlockingMs(control.longTasks, control.from, control.to) / (control.to - control.from);
    expect(controlShare, JSON.stringify(control)).toBeGreaterThan(0.5);
    // Reported, not asserted: long tasks in the whole round (check-in, blob fetch, outbox, upload) on this shared box.
    console.info(
      `[training.test] worker trained ${Math.round(trainMs)} ms, main thread blocked ${Math.round(blockedMs)} ms of it (control: ${(100 * controlShare).toFixed(0)}%); long tasks during the round: ${JSON.stringify(r.longTasks.filter((t) => t.start + t.duration >= started.at && t.start <= finished.at))}`,
    );
  }, 150_000);
});
