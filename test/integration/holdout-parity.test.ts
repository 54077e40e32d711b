/**
 * The coordinator's holdout score equals the device's (issue 14): for each
 * output kind a model is pushed with a holdout that `flock holdout make`
 * wrote from raw examples (text with emoji and accents, PNG digits of odd
 * sizes, records of fields) through the model's own spec, and the score the
 * real coordinator keeps for the version (accuracy; exact match for
 * multilabel; mean absolute error for regression) is the one the public SDK
 * gets by predicting the same raw examples in Node. A regression task
 * evaluated on that holdout records each round's mean absolute error, equal
 * to the SDK's on the round's new version.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHoldout } from '../../cli/holdout.ts';
import { connect } from '../../client/connect.ts';
import { FlockTransport } from '../../client/federated/transport.ts';
import { exampleTarget, type Prediction } from '../../client/inference/index.ts';
import { createPredictor } from '../../client/inference/index.ts';
import { syncModel } from '../../client/model-loader.ts';
import { createMemoryStore } from '../../client/storage/memory-store.ts';
import { runBackgroundRound } from '../../client/training/background-round.ts';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { createLogger } from '../../coordinator/observability/logger.ts';
import { writeModelDirectory } from '../../coordinator/registry/model-directory.ts';
import type { RawImage } from '../../shared/preprocess/index.ts';
import {
  MODEL_SPEC_FILE,
  PROTOCOL_VERSION,
  type ModelSpecInput,
  type ModelVersionView,
  type RoundView,
  type TaskView,
} from '../../shared/protocol/index.ts';

let dir: string;
let coordinator: Coordinator;
let server: ReturnType<typeof serve>;
let baseUrl: string;
let adminKey: string;

async function admin<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${adminKey}`, ...(init.headers as Record<string, string>) },
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** A seeded dense model written as a model directory with its flock-model.json. */
async function modelDir(name: string, inputs: number, units: number, activation: string, spec: ModelSpecInput) {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [inputs],
        units,
        activation: activation as 'linear',
        kernelInitializer: tf.initializers.randomNormal({ seed: 7, stddev: 1.5 }),
        biasInitializer: tf.initializers.randomNormal({ seed: 8, stddev: 0.5 }),
        name: 'head',
      }),
    ],
  });
  const out = join(dir, name);
  await writeModelDirectory(model, out);
  model.dispose();
  await writeFile(join(out, MODEL_SPEC_FILE), JSON.stringify(spec));
  return out;
}

/** `flock holdout make` (the CLI's own code), then `flock model push --holdout` as the admin route takes it. */
async function pushWithHoldout(app: string, model: string, from: string, extra: Partial<{ textField: string }> = {}) {
  const out = join(dir, `${app}.flkt`);
  let said = '';
  await makeHoldout(
    { from, model, out, labelField: 'label', textField: extra.textField ?? 'text', json: true },
    { out: (t) => (said += t), err: () => {} },
  );
  const form = new FormData();
  for (const name of ['model.json', 'weights.bin', MODEL_SPEC_FILE])
    form.append(name, new Blob([new Uint8Array(await readFile(join(model, name)))]), name);
  form.append('holdout', new Blob([new Uint8Array(await readFile(out))]), 'holdout.flkt');
  form.append('stage', 'production');
  const pushed = await admin<ModelVersionView & { accuracy: unknown }>(`/v1/admin/models/${app}`, {
    method: 'POST',
    body: form,
  });
  expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
  return { version: pushed.body, made: JSON.parse(said) as { count: number } };
}

/** The public SDK in Node, on the fp32 variant the coordinator's headline score is for. */
async function sdkPredictions(app: string, raws: unknown[]): Promise<Prediction[]> {
  const flock = await connect({
    url: baseUrl,
    app,
    store: createMemoryStore(),
    backend: 'cpu',
    variant: 'fp32',
    autoUpdate: false,
    telemetry: false,
  });
  try {
    const out: Prediction[] = [];
    for (const raw of raws) out.push(await flock.predict(raw as string));
    return out;
  } finally {
    await flock.close();
  }
}

const meanAbsoluteError = (ps: Prediction[], ys: number[]) =>
  ps.reduce((s, p, i) => s + Math.abs((p.kind === 'regression' ? p.value : Number.NaN) - ys[i]), 0) / ps.length;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'flock-holdout-parity-'));
  coordinator = await createCoordinator({ dataDir: join(dir, 'data'), log: createLogger({ level: 'silent' }) });
  adminKey = coordinator.initialAdminKey!;
  server = serve({ fetch: coordinator.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((ready, fail) => {
    server.once('listening', ready);
    server.once('error', fail);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  await coordinator?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const MAILS = [
  ['WIN a FREE cruise!!! 🚢🎉', 'spam'],
  ['Réunion déplacée à 15h, café en bas', 'ham'],
  ['Ｆｕｌｌｗｉｄｔｈ ＦＲＥＥ money and ελληνικά', 'spam'],
  ['Встреча в понедельник, 会议 on Monday', 'ham'],
  ['مرحبا, your parcel is waiting — click', 'spam'],
  ['e\u0301te\u0301 notes from the review', 'ham'],
  ['claim your prize now 💰💰', 'spam'],
  ['lunch with the team today?', 'ham'],
  ['FREE FREE FREE offer ends tonight', 'spam'],
  ['the design review notes are attached', 'ham'],
  ['Ünïcödé ǅ ﬁnance newsletter', 'ham'],
  ['you have won 1,000,000 €', 'spam'],
] as const;

describe('holdout parity: coordinator score = device score on the same raw examples', () => {
  it('binary text (emoji, accents, fullwidth, Cyrillic, CJK, Arabic, combining marks)', async () => {
    const spec: ModelSpecInput = {
      version: 1,
      preprocess: {
        version: 1,
        input: {
          kind: 'text',
          charNgrams: [2, 3],
          encoding: { type: 'hashing', dimensions: 64 },
          output: { type: 'bag' },
        },
      },
      output: { kind: 'binary', threshold: 0.55, labels: ['ham', 'spam'] },
    };
    const model = await modelDir('inbox', 64, 1, 'sigmoid', spec);
    const from = join(dir, 'mails.jsonl');
    await writeFile(from, MAILS.map(([text, label]) => JSON.stringify({ text, label })).join('\n'));
    const { version, made } = await pushWithHoldout('inbox', model, from);
    expect(made.count).toBe(MAILS.length);
    const ps = await sdkPredictions(
      'inbox',
      MAILS.map(([text]) => text),
    );
    const device = ps.filter((p, i) => p.kind === 'binary' && p.labelName === MAILS[i][1]).length / MAILS.length;
    expect(version.metrics.holdoutAccuracy).toBe(device);
    expect(device).toBeGreaterThan(0);
    expect(device).toBeLessThan(1);
  }, 60_000);

  it('multiclass images: PNG digits of odd sizes, RGBA with alpha, from a folder', async () => {
    const spec: ModelSpecInput = {
      version: 1,
      preprocess: { version: 1, input: { kind: 'image', width: 6, height: 5, channels: 1, invert: true } },
      output: { kind: 'multiclass', labels: ['circle', 'bar', 'cross'] },
    };
    const model = await modelDir('shapes', 30, 3, 'softmax', spec);
    // The spec makes [5, 6, 1] features and a model's input must have that shape: this one flattens them itself.
    await rm(model, { recursive: true, force: true });
    const cnn = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [5, 6, 1], name: 'flat' }),
        tf.layers.dense({
          units: 3,
          activation: 'softmax',
          kernelInitializer: tf.initializers.randomNormal({ seed: 3, stddev: 2 }),
          name: 'head',
        }),
      ],
    });
    await writeModelDirectory(cnn, model);
    cnn.dispose();
    await writeFile(join(model, MODEL_SPEC_FILE), JSON.stringify(spec));
    const images: Array<{ label: string; image: RawImage }> = [];
    const folder = join(dir, 'shapes-png');
    const sizes = [
      [37, 23],
      [1, 99],
      [64, 3],
      [9, 9],
    ];
    for (const [k, label] of ['circle', 'bar', 'cross'].entries()) {
      await mkdir(join(folder, label), { recursive: true });
      for (const [j, [w, h]] of sizes.entries()) {
        const data = new Uint8Array(w * h * 4);
        for (let i = 0; i < w * h; i++) {
          const x = i % w;
          const y = Math.floor(i / w);
          const v = (x * 37 + y * 91 + k * 53 + j * 17) % 256;
          data.set([v, (v * 3) % 256, 255 - v, 40 + ((x + y) % 200)], i * 4);
        }
        const png = new PNG({ width: w, height: h });
        png.data = Buffer.from(data);
        await writeFile(join(folder, label, `${j}-${w}x${h}.png`), PNG.sync.write(png));
        images.push({ label, image: { data, width: w, height: h, channels: 4 } });
      }
    }
    const { version, made } = await pushWithHoldout('shapes', model, folder);
    expect(made.count).toBe(12);
    const ps = await sdkPredictions(
      'shapes',
      images.map((i) => i.image),
    );
    const device = ps.filter((p, i) => p.kind === 'multiclass' && p.labelName === images[i].label).length / 12;
    expect(version.metrics.holdoutAccuracy).toBe(device);
    expect(device).toBeGreaterThan(0);
    expect(device).toBeLessThan(1);
  }, 60_000);

  const fields = [
    { name: 'rooms', type: 'numeric' as const, mean: 3, std: 1.5 },
    { name: 'area', type: 'numeric' as const, mean: 70, std: 25, missing: 70 },
    { name: 'city', type: 'categorical' as const, vocabulary: ['paris', 'lyon', 'nantes'] },
  ];
  const homes = Array.from({ length: 30 }, (_, i) => ({
    rooms: 1 + (i % 5),
    ...(i % 7 === 3 ? {} : { area: 30 + ((i * 13) % 90) }),
    city: ['paris', 'lyon', 'nantes', 'Besançon'][i % 4],
  }));

  it('multilabel records: exact match at the stored threshold', async () => {
    const labels = ['garden', 'garage', 'view'];
    const spec: ModelSpecInput = {
      version: 1,
      preprocess: { version: 1, input: { kind: 'tabular', fields: [...fields] } },
      output: { kind: 'multilabel', threshold: 0.4, labels },
    };
    const model = await modelDir('tags', 6, 3, 'sigmoid', spec);
    const tags = homes.map((h, i) => labels.filter((_, k) => (i * (k + 2) + h.rooms) % 3 === 0));
    const from = join(dir, 'tags.jsonl');
    await writeFile(from, homes.map((h, i) => JSON.stringify({ ...h, label: tags[i] })).join('\n'));
    const { version } = await pushWithHoldout('tags', model, from);
    const ps = await sdkPredictions('tags', homes);
    const exact = ps.filter((p, i) => p.kind === 'multilabel' && p.labels.join() === tags[i].join()).length / 30;
    expect(version.metrics.holdoutAccuracy).toBe(exact);
    expect(exact).toBeGreaterThan(0);
    expect(exact).toBeLessThan(1);
  }, 60_000);

  it('regression records: mean absolute error, at push and in every evaluated round', async () => {
    const spec: ModelSpecInput = {
      version: 1,
      preprocess: { version: 1, input: { kind: 'tabular', fields: [...fields] } },
      output: { kind: 'regression' },
    };
    const model = await modelDir('homes', 6, 1, 'linear', spec);
    const price = (h: (typeof homes)[number]) =>
      0.8 * (h.rooms - 3) + 0.02 * ((h.area ?? 70) - 70) + (h.city === 'paris' ? 1.5 : 0);
    const ys = homes.map(price);
    const from = join(dir, 'homes.csv');
    await writeFile(
      from,
      `rooms,area,city,label\n${homes.map((h, i) => `${h.rooms},${h.area ?? ''},${h.city},${ys[i]}`).join('\n')}\n`,
    );
    const { version } = await pushWithHoldout('homes', model, from);
    expect(version.metrics.holdoutAccuracy).toBeUndefined();
    const before = meanAbsoluteError(await sdkPredictions('homes', homes), ys);
    expect(version.metrics.holdoutMeanAbsoluteError).toBeCloseTo(before, 5);
    expect(before).toBeGreaterThan(0.5);

    // Two devices record the same homes (features by the version's spec) and train one round evaluated on the holdout.
    const devices = await Promise.all(
      [0, 1].map(async (k) => {
        const transport = new FlockTransport({ baseUrl });
        const { deviceId, token } = await transport.register({
          app: 'homes',
          platform: { runtime: 'node' },
          protocolVersion: PROTOCOL_VERSION,
        });
        const store = createMemoryStore();
        await store.putDevice({ app: 'homes', deviceId, token });
        const synced = await syncModel({ transport, store, app: 'homes', slowBackend: true, variant: 'fp32' });
        if (synced.status !== 'updated') throw new Error(`sync answered ${synced.status}`);
        const { model: m, stored } = synced.loaded;
        const predictor = createPredictor({ model: m, inputSpec: stored.inputSpec, modelSpec: stored.modelSpec });
        for (const [i, h] of homes.entries()) {
          if (i % 2 !== k) continue;
          const { label, target } = exampleTarget(ys[i], stored.modelSpec!.output, 1);
          await store.addExample('homes', await predictor.features(h), label, target);
        }
        m.dispose();
        return store;
      }),
    );
    const created = await admin<TaskView>('/v1/admin/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        app: 'homes',
        modelVersion: version.version,
        name: 'homes-evaluated',
        plan: {
          population: 10,
          clientsPerRound: 2,
          minReports: 2,
          localEpochs: 10,
          batchSize: 8,
          learningRate: 0.1,
          clipNorm: 100,
          roundDeadlineSeconds: 120,
          evaluation: { holdout: 'model' },
        },
      }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const outcomes = await Promise.all(
      devices.map(async (store) => {
        const [outcome] = await runBackgroundRound({
          url: baseUrl,
          app: 'homes',
          tasks: [created.body.id],
          store,
          backend: 'cpu',
          runtime: 'node',
          timeCapMs: 120_000,
        });
        return outcome;
      }),
    );
    const first = outcomes[0];
    if (first.status !== 'uploaded') throw new Error(`a device did not upload (${JSON.stringify(outcomes)})`);
    let round: RoundView | undefined;
    for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      const { rounds } = (await admin<{ rounds: RoundView[] }>(`/v1/admin/tasks/${created.body.id}/rounds`)).body;
      round = rounds.find((r) => r.id === first.roundId);
      if (round && (round.state === 'closed' || round.state === 'failed')) break;
    }
    expect(round).toMatchObject({ state: 'closed', reports: 2 });
    // The round's evaluation is written to the round row and to the version it made alike (publish-round.ts).
    const made = (await admin<ModelVersionView>(`/v1/admin/models/homes/versions/${round!.resultVersion}`)).body;
    expect(made.metrics.holdoutError).toBeUndefined();
    expect(made.metrics.holdoutCount).toBe(30);
    await admin(`/v1/admin/models/homes/versions/${round!.resultVersion}/stage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ stage: 'production' }),
    });
    const after = meanAbsoluteError(await sdkPredictions('homes', homes), ys);
    expect(made.metrics.holdoutMeanAbsoluteError).toBeCloseTo(after, 5);
    expect(after).toBeLessThan(before);
  }, 120_000);
});
