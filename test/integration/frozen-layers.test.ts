/**
 * Transfer learning end to end through a real coordinator (SQLite, loopback
 * HTTP): the same MNIST 2NN (784-200-200-10) is pushed twice, once with a
 * `flock-model.json` that freezes every layer but the last Dense ('output')
 * and once without. Node devices train one round of each through the SDK's
 * round loop on real MNIST shards, with the same plan and int8 encoding.
 *
 * Checked: the frozen layers of version 2 are byte-identical to version 1
 * while the head moved; the frozen app's updates are the head's size on the
 * wire (both sizes are printed); an update that carries a frozen tensor is
 * refused before anything is stored.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlockTransport } from '../../client/federated/transport.ts';
import { FlockHttpError } from '../../client/federated/transport-error.ts';
import { syncModel } from '../../client/model-loader.ts';
import { createMemoryStore, type ClientStore } from '../../client/storage/index.ts';
import { runBackgroundRound } from '../../client/training/background-round.ts';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { createLogger } from '../../coordinator/observability/logger.ts';
import { modelToFiles } from '../../coordinator/registry/model-directory.ts';
import { decodeTensors, encodeTensors, type NamedTensor } from '../../shared/codec/index.ts';
import { createMnistModel, evaluateAccuracy, modelFromParts, partsFromModel } from '../../shared/model/index.ts';
import type { ModelTopology } from '../../shared/model/index.ts';
import {
  MODEL_SPEC_FILE,
  PROTOCOL_VERSION,
  type ModelVersionView,
  type RoundView,
  type TaskView,
} from '../../shared/protocol/index.ts';
import { loadMnist } from '../../simulate/datasets/mnist.ts';

const FROZEN_APP = 'digits-head';
const WHOLE_APP = 'digits-whole';
const FROZEN = ['hidden1', 'hidden2'];
const CLIENTS = 2;
const SHARD = 300;

let dir: string;
let coordinator: Coordinator;
let server: ReturnType<typeof serve>;
let baseUrl: string;
let adminKey: string;
let topology: ModelTopology;

async function admin<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${adminKey}`, ...(init.headers as Record<string, string>) },
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** The fp32 weights of a version, by tensor name, as the registry stores them. */
async function weightsOf(app: string, version: number): Promise<Map<string, Float32Array>> {
  const view = (await admin<ModelVersionView>(`/v1/admin/models/${app}/versions/${version}`)).body;
  const fp32 = view.variants.find((v) => v.encoding === 'fp32')!;
  const tensors = decodeTensors(await new FlockTransport({ baseUrl, token: adminKey }).getBlob(fp32.sha256));
  return new Map(tensors.map((t) => [t.name, t.data]));
}

const bytesOf = (data: Float32Array) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

async function waitForRound(taskId: string, roundId: string): Promise<RoundView> {
  const until = Date.now() + 60_000;
  for (;;) {
    const { rounds } = (await admin<{ rounds: RoundView[] }>(`/v1/admin/tasks/${taskId}/rounds`)).body;
    const round = rounds.find((r) => r.id === roundId);
    if (round && (round.state === 'closed' || round.state === 'failed')) return round;
    if (Date.now() > until) throw new Error(`round ${roundId} still ${round?.state ?? 'missing'}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function createTask(app: string): Promise<string> {
  const created = await admin<TaskView>('/v1/admin/tasks', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      app,
      modelVersion: 1,
      name: `${app}-round`,
      plan: {
        population: 10,
        clientsPerRound: CLIENTS,
        minReports: CLIENTS,
        localEpochs: 2,
        batchSize: 20,
        learningRate: 0.1,
        clipNorm: 10,
        // Central noise on the sum reaches every coordinate of the mean, frozen ones too: only copying them
        // from the parent keeps them bit-identical (an all-zero frozen delta alone would not).
        noiseMultiplier: 0.002,
        updateEncoding: { encoding: 'int8' },
        roundDeadlineSeconds: 300,
      },
    }),
  });
  expect(created.status).toBe(201);
  return created.body.id;
}

interface Device {
  transport: FlockTransport;
  deviceId: string;
  store: ClientStore;
}

/** A device of `app` with the verified v1 model and MNIST shard `shard` recorded. */
async function device(app: string, shard: number): Promise<Device> {
  const transport = new FlockTransport({ baseUrl });
  const { deviceId, token } = await transport.register({
    app,
    platform: { runtime: 'node' },
    protocolVersion: PROTOCOL_VERSION,
  });
  const store = createMemoryStore();
  await store.putDevice({ app, deviceId, token });
  const synced = await syncModel({ transport, store, app, slowBackend: false, variant: 'fp32' });
  if (synced.status !== 'updated') throw new Error(`sync answered ${synced.status}`);
  synced.loaded.model.dispose();
  const data = loadMnist({ split: 'train', offset: shard * SHARD, limit: SHARD });
  for (let e = 0; e < data.count; e++)
    await store.addExample(app, data.images.slice(e * 784, (e + 1) * 784), data.labels[e]);
  return { transport: new FlockTransport({ baseUrl, token }), deviceId, store };
}

/** One round of `taskId` through the SDK's round loop; the closed round and the updates the coordinator stored. */
async function trainRound(app: string, taskId: string, devices: Device[]) {
  const results = await Promise.all(
    devices.map(async (d) => {
      const [outcome] = await runBackgroundRound({
        url: baseUrl,
        app,
        tasks: [taskId],
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
  const closed = await waitForRound(taskId, first.roundId);
  expect(closed).toMatchObject({ state: 'closed', reports: CLIENTS, failureReason: null });
  const updates = await coordinator.deps.store.listUpdates(first.roundId);
  return { closed, updates };
}

async function accuracyOf(app: string, version: number): Promise<number> {
  const weights = await weightsOf(app, version);
  const test = loadMnist({ split: 'test', limit: 1000 });
  const weightSpecs = [...shapes].map(([name, shape]) => ({ name, shape }));
  const model = await modelFromParts({ topology, weightSpecs, weights: weightSpecs.map((s) => weights.get(s.name)!) });
  try {
    return (await evaluateAccuracy(model, { x: test.images, y: test.labels, inputShape: [784] })).accuracy;
  } finally {
    model.dispose();
  }
}

let shapes: Map<string, number[]>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flock-frozen-'));
  coordinator = await createCoordinator({ dataDir: join(dir, 'data'), log: createLogger({ level: 'silent' }) });
  adminKey = coordinator.initialAdminKey!;
  server = serve({ fetch: coordinator.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((ready, fail) => {
    server.once('listening', ready);
    server.once('error', fail);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // One model, pushed to both apps: the same initial weights, with and without frozen layers.
  const model = createMnistModel('2nn', { seed: 11 });
  const parts = partsFromModel(model);
  topology = parts.topology;
  shapes = new Map(parts.weightSpecs.map((s) => [s.name, s.shape]));
  const files = await modelToFiles(model);
  model.dispose();
  for (const [app, spec] of [
    [FROZEN_APP, { version: 1, frozenLayers: FROZEN }],
    [WHOLE_APP, { version: 1 }],
  ] as const) {
    const form = new FormData();
    for (const [name, bytes] of files) form.append(name, new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
    form.append(MODEL_SPEC_FILE, new Blob([JSON.stringify(spec)]), MODEL_SPEC_FILE);
    form.append('stage', 'production');
    const pushed = await admin<ModelVersionView>(`/v1/admin/models/${app}`, { method: 'POST', body: form });
    expect(pushed.status).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  server?.close();
  await coordinator?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('frozen layers through a real coordinator', () => {
  it('trains and uploads only the head, refuses a frozen tensor, and keeps the frozen layers bit for bit', async () => {
    const frozenTask = await createTask(FROZEN_APP);
    const frozenDevices = [await device(FROZEN_APP, 0), await device(FROZEN_APP, 1)];

    // A device selected for the round sends tensors of frozen layers: refused, and nothing is stored.
    const hostile = frozenDevices[0];
    const answer = await hostile.transport.checkIn(frozenTask, {
      deviceId: hostile.deviceId,
      taskId: frozenTask,
      numExamples: SHARD,
    });
    if (answer.status !== 'selected') throw new Error(`check-in answered ${answer.status}`);
    const v1 = await weightsOf(FROZEN_APP, 1);
    const small = (name: string): NamedTensor => ({
      name,
      shape: shapes.get(name)!,
      data: new Float32Array(v1.get(name)!.length).fill(1e-4),
    });
    const meta = {
      roundId: answer.roundId,
      deviceId: hostile.deviceId,
      numExamples: SHARD,
      preClipNorm: 0.1,
      epochs: 1,
      encoding: 'int8' as const,
    };
    const refusal = (bytes: Uint8Array) =>
      hostile.transport.uploadUpdate(answer.roundId, bytes, meta).then(
        () => {
          throw new Error('the coordinator accepted an update carrying frozen tensors');
        },
        (error: unknown) => {
          if (!(error instanceof FlockHttpError)) throw error;
          return error;
        },
      );
    // The head and one frozen bias: within the body cap, refused by the validation.
    const withFrozenBias = encodeTensors(['hidden2/bias', 'output/kernel', 'output/bias'].map(small), {
      encoding: 'int8',
    });
    const partial = await refusal(withFrozenBias);
    expect(partial.status).toBe(422);
    expect(partial.code).toBe('shape_mismatch');
    expect(partial.message).toContain('frozen');
    // The whole model's delta: larger than any update of the head, refused from its length alone.
    const whole = encodeTensors([...shapes.keys()].map(small), { encoding: 'int8' });
    const full = await refusal(whole);
    expect(full.status).toBe(413);
    expect(full.code).toBe('payload_too_large');
    expect(await coordinator.deps.store.getUpdate(answer.roundId, hostile.deviceId)).toBeNull();
    expect(await coordinator.deps.store.listUpdates(answer.roundId)).toHaveLength(0);

    const headRound = await trainRound(FROZEN_APP, frozenTask, frozenDevices);
    expect(headRound.closed.id).toBe(answer.roundId);
    const v2 = await weightsOf(FROZEN_APP, headRound.closed.resultVersion!);
    for (const [name, before] of v1) {
      const after = v2.get(name)!;
      if (FROZEN.some((layer) => name.startsWith(`${layer}/`)))
        expect(Buffer.compare(bytesOf(after), bytesOf(before)), `${name} stays bit-identical`).toBe(0);
      else expect(Buffer.compare(bytesOf(after), bytesOf(before)), `${name} trained`).not.toBe(0);
    }
    for (const u of headRound.updates)
      expect(
        decodeTensors(await coordinator.deps.store.blobs.get(u.blobHash).then((b) => b!)).map((t) => t.name),
      ).toEqual(['output/kernel', 'output/bias']);

    // The same model, plan, data and encoding with nothing frozen: every layer moves and travels.
    const wholeTask = await createTask(WHOLE_APP);
    const wholeDevices = [await device(WHOLE_APP, 0), await device(WHOLE_APP, 1)];
    const wholeRound = await trainRound(WHOLE_APP, wholeTask, wholeDevices);
    const w1 = await weightsOf(WHOLE_APP, 1);
    const w2 = await weightsOf(WHOLE_APP, wholeRound.closed.resultVersion!);
    expect(Buffer.compare(bytesOf(w2.get('hidden1/kernel')!), bytesOf(w1.get('hidden1/kernel')!))).not.toBe(0);

    const headBytes = headRound.updates.map((u) => u.byteLength);
    const wholeBytes = wholeRound.updates.map((u) => u.byteLength);
    // The same deltas re-encoded in fp32 (computed here, not sent): the ratio does not depend on int8.
    const fp32Size = async (hash: string) =>
      encodeTensors(decodeTensors((await coordinator.deps.store.blobs.get(hash))!), { encoding: 'fp32' }).byteLength;
    const fp32 = {
      head: await fp32Size(headRound.updates[0].blobHash),
      whole: await fp32Size(wholeRound.updates[0].blobHash),
    };
    const accuracy = {
      v1: await accuracyOf(FROZEN_APP, 1),
      head: await accuracyOf(FROZEN_APP, headRound.closed.resultVersion!),
      whole: await accuracyOf(WHOLE_APP, wholeRound.closed.resultVersion!),
    };
    console.log(
      `frozen-layers: int8 update bytes per device, 2NN 784-200-200-10 (199,210 params; head 2,010): ` +
        `head only ${headBytes.join(', ')} vs whole model ${wholeBytes.join(', ')} ` +
        `(${(wholeBytes[0] / headBytes[0]).toFixed(1)}x smaller); the same deltas in fp32 ${fp32.head} vs ${fp32.whole}; ` +
        `test accuracy v1 ${accuracy.v1.toFixed(3)} -> ` +
        `head-only round ${accuracy.head.toFixed(3)}, whole-model round ${accuracy.whole.toFixed(3)}`,
    );
    // The head's update is its 2,010 int8 values plus scales and the table; the whole model's is ~99x the values.
    for (const b of headBytes) expect(b).toBeLessThan(4_000);
    for (const b of wholeBytes) expect(b).toBeGreaterThan(199_210);
    expect(accuracy.head).toBeGreaterThan(accuracy.v1 + 0.1);
  }, 300_000);
});
