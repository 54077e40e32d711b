/**
 * End to end through a real coordinator (SQLite, loopback HTTP), one model per
 * output kind beyond multiclass, each with its preprocessing in
 * `flock-model.json`:
 * - binary: raw text, hashed words, one sigmoid with a stored threshold;
 * - regression: a record of fields (standardised number, one-hot category), a linear unit.
 * Each is pushed with its spec, synced by Node devices (spec checked against
 * the signed hash), predicted on raw input, recorded with kind-typed targets,
 * trained for a federated round, and the round's version keeps the spec and
 * is better on the same data. A spec swapped on the wire is refused.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../client/connect.ts';
import { FlockTransport } from '../../client/federated/transport.ts';
import { FlockError } from '../../client/flock-error.ts';
import { createPredictor, exampleTarget, type Prediction } from '../../client/inference/index.ts';
import { syncModel } from '../../client/model-loader.ts';
import { createMemoryStore } from '../../client/storage/memory-store.ts';
import { runBackgroundRound } from '../../client/training/background-round.ts';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { createLogger } from '../../coordinator/observability/logger.ts';
import { modelToFiles } from '../../coordinator/registry/model-directory.ts';
import { compilePreprocess } from '../../shared/preprocess/index.ts';
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

async function push(app: string, model: tf.LayersModel, spec: ModelSpecInput): Promise<void> {
  const files = await modelToFiles(model);
  files.set(MODEL_SPEC_FILE, new TextEncoder().encode(JSON.stringify(spec)));
  const form = new FormData();
  for (const [name, bytes] of files) form.append(name, new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  form.append('stage', 'production');
  const pushed = await admin<ModelVersionView>(`/v1/admin/models/${app}`, { method: 'POST', body: form });
  expect(pushed.status).toBe(201);
}

async function waitForRound(taskId: string, roundId: string): Promise<RoundView> {
  const until = Date.now() + 30_000;
  for (;;) {
    const { rounds } = (await admin<{ rounds: RoundView[] }>(`/v1/admin/tasks/${taskId}/rounds`)).body;
    const round = rounds.find((r) => r.id === roundId);
    if (round && (round.state === 'closed' || round.state === 'failed')) return round;
    if (Date.now() > until) throw new Error(`round ${roundId} still ${round?.state ?? 'missing'}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A device: registered, synced (spec verified), with a predictor over the version's spec. */
async function device(app: string) {
  const transport = new FlockTransport({ baseUrl });
  const { deviceId, token } = await transport.register({
    app,
    platform: { runtime: 'node' },
    protocolVersion: PROTOCOL_VERSION,
  });
  const store = createMemoryStore();
  await store.putDevice({ app, deviceId, token });
  const synced = await syncModel({ transport, store, app, slowBackend: true, variant: 'fp32' });
  if (synced.status !== 'updated') throw new Error(`sync answered ${synced.status}`);
  const { model, stored } = synced.loaded;
  const predictor = createPredictor({ model, inputSpec: stored.inputSpec, modelSpec: stored.modelSpec, cacheSize: 0 });
  return { transport, deviceId, store, model, stored, predictor };
}

type Device = Awaited<ReturnType<typeof device>>;

/** What `record(input, target)` does: the version's preprocessing, a kind-typed target, kept on the device. */
async function record(d: Device, raw: unknown, target: unknown): Promise<void> {
  const output = d.stored.modelSpec!.output;
  const { label, target: values } = exampleTarget(target, output, 1);
  await d.store.addExample(d.stored.app, await d.predictor.features(raw as string), label, values);
}

async function trainRound(app: string, devices: Device[]): Promise<ModelVersionView> {
  const created = await admin<TaskView>('/v1/admin/tasks', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      app,
      modelVersion: 1,
      name: `${app}-round`,
      plan: {
        population: 10,
        clientsPerRound: devices.length,
        minReports: devices.length,
        localEpochs: 20,
        batchSize: 8,
        learningRate: 0.2,
        clipNorm: 100,
        updateEncoding: { encoding: 'int8' },
        roundDeadlineSeconds: 120,
      },
    }),
  });
  expect(created.status).toBe(201);
  // The SDK's round loop (TrainingScheduler, one turn): y is built from the stored examples by the version's spec.
  const results = await Promise.all(
    devices.map(async (d) => {
      const [outcome] = await runBackgroundRound({
        url: baseUrl,
        app,
        tasks: [created.body.id],
        store: d.store,
        backend: 'cpu',
        runtime: 'node',
        timeCapMs: 120_000,
      });
      return outcome;
    }),
  );
  for (const r of results)
    if (r.status !== 'uploaded') throw new Error(`a device did not upload (${JSON.stringify(r)})`);
  const first = results[0];
  if (first.status !== 'uploaded') throw new Error('unreachable');
  const closed = await waitForRound(created.body.id, first.roundId);
  expect(closed).toMatchObject({ state: 'closed', reports: devices.length });
  await admin(`/v1/admin/models/${app}/versions/${closed.resultVersion}/stage`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ stage: 'production' }),
  });
  return (await admin<ModelVersionView>(`/v1/admin/models/${app}/versions/${closed.resultVersion}`)).body;
}

/** The new version as a device receives it: synced again (spec verified again), predicting through its spec. */
async function predictAfter(d: Device, raws: unknown[]): Promise<Prediction[]> {
  const synced = await syncModel({
    transport: d.transport,
    store: d.store,
    app: d.stored.app,
    slowBackend: true,
    variant: 'fp32',
  });
  if (synced.status !== 'updated') throw new Error(`second sync answered ${synced.status}`);
  expect(synced.loaded.stored.modelSpec).toEqual(d.stored.modelSpec);
  const predictor = createPredictor({
    model: synced.loaded.model,
    inputSpec: synced.loaded.stored.inputSpec,
    modelSpec: synced.loaded.stored.modelSpec,
  });
  const out = await Promise.all(raws.map((r) => predictor.predict(r as string)));
  synced.loaded.model.dispose();
  return out;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'flock-output-kinds-'));
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

const SPAM = [
  'win a free cruise now',
  'free money click now',
  'win cash prize free',
  'claim your free prize now',
  'free gift card win now',
  'click now to win free cash',
];
const HAM = [
  'meeting moved to monday',
  'lunch with the team today',
  'notes from the design review',
  'see you at the office',
  'agenda for the monday meeting',
  'the review notes are attached',
];
const textSpec: ModelSpecInput = {
  version: 1,
  preprocess: {
    version: 1,
    input: { kind: 'text', encoding: { type: 'hashing', dimensions: 32 }, output: { type: 'bag' } },
  },
  output: { kind: 'binary', threshold: 0.5, labels: ['ham', 'spam'] },
};

describe('a binary text model end to end', () => {
  it('predicts raw text by the stored threshold, records spam/ham, and a round makes it separate them', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({
          inputShape: [32],
          units: 1,
          activation: 'sigmoid',
          kernelInitializer: 'zeros',
          name: 'spam',
        }),
      ],
    });
    await push('inbox', model, textSpec);
    model.dispose();
    const devices = [await device('inbox'), await device('inbox')];
    expect(devices[0].stored.modelSpec?.output).toEqual({ kind: 'binary', threshold: 0.5, labels: ['ham', 'spam'] });

    // Untrained (zero kernel, zero bias): every mail is p = 0.5, so exactly at the threshold.
    const before = await devices[0].predictor.predict(SPAM[0]);
    expect(before).toMatchObject({ kind: 'binary', probability: 0.5, positive: true, labelName: 'spam' });
    // The prediction is the model on the shared preprocessing's features.
    const features = compilePreprocess(textSpec.preprocess).apply(SPAM[0]);
    expect(Array.from(await devices[0].predictor.features(SPAM[0]))).toEqual(Array.from(features));

    await Promise.all(
      devices.map(async (d, i) => {
        for (const mail of SPAM) await record(d, mail, i === 0 ? 'spam' : true);
        for (const mail of HAM) await record(d, mail, i === 0 ? 'ham' : 0);
      }),
    );
    await expect(record(devices[0], 'hello', 'maybe')).rejects.toMatchObject({ code: 'bad_target', field: 'target' });

    const next = await trainRound('inbox', devices);
    expect(next).toMatchObject({ source: 'round', parentVersion: 1 });
    const after = await predictAfter(devices[0], [...SPAM, ...HAM]);
    for (const [i, p] of after.entries()) {
      if (p.kind !== 'binary') throw new Error(`expected binary, got ${p.kind}`);
      expect(p.labelName).toBe(i < SPAM.length ? 'spam' : 'ham');
    }
  }, 60_000);
});

const tabularSpec: ModelSpecInput = {
  version: 1,
  preprocess: {
    version: 1,
    input: {
      kind: 'tabular',
      fields: [
        { name: 'rooms', type: 'numeric', mean: 3, std: 1 },
        { name: 'city', type: 'categorical', vocabulary: ['paris', 'lyon'] },
      ],
    },
  },
  output: { kind: 'regression' },
};
const homes = Array.from({ length: 24 }, (_, i) => ({ rooms: 1 + (i % 5), city: i % 3 === 0 ? 'paris' : 'lyon' }));
const price = (h: { rooms: number; city: string }) => 0.5 * (h.rooms - 3) + (h.city === 'paris' ? 1 : 0);

describe('a regression model on records end to end', () => {
  it('predicts a value from a record, records numeric targets, and a round lowers the mean absolute error', async () => {
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [4], units: 1, kernelInitializer: 'zeros', name: 'price' })],
    });
    await push('homes', model, tabularSpec);
    model.dispose();
    const devices = [await device('homes'), await device('homes')];
    const before = await devices[0].predictor.predict(homes[0]);
    expect(before).toMatchObject({ kind: 'regression', value: 0 });
    await expect(devices[0].predictor.predict({ rooms: 'many', city: 'paris' })).rejects.toMatchObject({
      code: 'bad_raw_input',
      field: 'rooms',
    });

    await Promise.all(
      devices.map(async (d, i) => {
        for (const h of homes.filter((_, j) => j % 2 === i)) await record(d, h, price(h));
      }),
    );
    await expect(record(devices[0], homes[0], 'cheap')).rejects.toMatchObject({ code: 'bad_target' });

    const maeBefore = homes.reduce((s, h) => s + Math.abs(price(h)), 0) / homes.length;
    await trainRound('homes', devices);
    const after = await predictAfter(devices[0], homes);
    const maeAfter =
      after.reduce((s, p, i) => s + Math.abs((p.kind === 'regression' ? p.value : Number.NaN) - price(homes[i])), 0) /
      homes.length;
    expect(maeAfter).toBeLessThan(maeBefore / 4);
  }, 60_000);
});

describe('the public SDK on a binary text model', () => {
  it("connect() predicts raw text through the version's preprocessing and records a typed target", async () => {
    const flock = await connect({
      url: baseUrl,
      app: 'inbox',
      store: createMemoryStore(),
      backend: 'cpu',
      autoUpdate: false,
      telemetry: false,
    });
    try {
      const p = await flock.predict('claim your free cash prize now');
      expect(p.kind).toBe('binary');
      if (p.kind !== 'binary') return;
      expect(p.threshold).toBe(0.5);
      expect(['ham', 'spam']).toContain(p.labelName);
      await flock.record('claim your free cash prize now', 'spam');
      expect((await flock.status()).examples).toBe(1);
      await expect(flock.predict({ subject: 'not text' })).rejects.toMatchObject({
        code: 'bad_raw_input',
        field: 'text',
      });
      await expect(flock.record('hello', 'eggs')).rejects.toMatchObject({ code: 'bad_target' });
    } finally {
      await flock.close();
    }
  }, 60_000);
});

describe('a model spec that does not match its signed manifest', () => {
  it('is refused: the version is not stored and nothing becomes active', async () => {
    const transport = new FlockTransport({
      baseUrl,
      // A hostile network: the spec blob's bytes are swapped for another spec's (threshold 0.01).
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        const url = String(input instanceof Request ? input.url : input);
        const manifest = await coordinator.deps.store.latestManifest('inbox');
        const ref = (manifest?.signedManifest as { manifest?: { modelSpec?: { hash: string } } } | undefined)?.manifest
          ?.modelSpec;
        if (ref && url.endsWith(`/v1/blobs/${ref.hash}`)) {
          const forged = JSON.stringify({ ...textSpec, output: { kind: 'binary', threshold: 0.01 } });
          return new Response(forged, { status: 200, headers: { 'content-type': 'application/octet-stream' } });
        }
        return res;
      },
    });
    await transport.register({ app: 'inbox', platform: { runtime: 'node' }, protocolVersion: PROTOCOL_VERSION });
    const store = createMemoryStore();
    const refused = await syncModel({ transport, store, app: 'inbox', slowBackend: true }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FlockError);
    expect(refused).toMatchObject({ code: 'integrity' });
    expect((await store.getPointer('inbox')).activeVersion).toBeNull();
    expect(await store.listModels('inbox')).toEqual([]);
  });
});
