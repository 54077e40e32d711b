/**
 * End to end, no mocks: a real coordinator (SQLite in a temp dir) on loopback,
 * an untrained MNIST 'mlp-small' pushed through the admin API, a task, and
 * four Node clients with their own IID shards of MNIST train that run three
 * federated rounds through the SDK's round loop (`TrainingScheduler`, one
 * turn per round via `runBackgroundRound`), each from its own device store. Each round's new version must
 * carry the right lineage, and the model must get clearly better on MNIST test.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
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
import { loadMnist, type MnistData } from '../../simulate/datasets/mnist.ts';
import { createLogger } from '../../coordinator/observability/logger.ts';
import { writeModelDirectory } from '../../coordinator/registry/model-directory.ts';
import { decodeTensors } from '../../shared/codec/index.ts';
import { verifyManifest } from '../../shared/manifest/index.ts';
import {
  createMnistModel,
  evaluateAccuracy,
  modelFromParts,
  partsFromModel,
  type ModelTopology,
} from '../../shared/model/index.ts';
import { PROTOCOL_VERSION, type ModelVersionView, type RoundView, type TaskView } from '../../shared/protocol/index.ts';

const APP = 'digits';
const CLIENTS = 4;
const SHARD = 500;
const ROUNDS = 3;

let dir: string;
let coordinator: Coordinator;
let server: ReturnType<typeof serve>;
let baseUrl: string;
let adminKey: string;
let topology: ModelTopology;
let test: MnistData;

async function admin<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${adminKey}`, ...(init.headers as Record<string, string>) },
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function accuracyOf(version: number): Promise<number> {
  const view = (await admin<ModelVersionView>(`/v1/admin/models/${APP}/versions/${version}`)).body;
  const fp32 = view.variants.find((v) => v.encoding === 'fp32')!;
  // Admin keys may read blobs; the transport verifies the bytes against the hash.
  const tensors = decodeTensors(await new FlockTransport({ baseUrl, token: adminKey }).getBlob(fp32.sha256));
  const model = await modelFromParts({
    topology,
    weightSpecs: tensors.map((t) => ({ name: t.name, shape: t.shape })),
    weights: tensors.map((t) => t.data),
  });
  try {
    return (await evaluateAccuracy(model, { x: test.images, y: test.labels, inputShape: [784] })).accuracy;
  } finally {
    model.dispose();
  }
}

async function waitForRound(taskId: string, roundId: string, timeoutMs = 30_000): Promise<RoundView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { rounds } = (await admin<{ rounds: RoundView[] }>(`/v1/admin/tasks/${taskId}/rounds`)).body;
    const round = rounds.find((r) => r.id === roundId);
    if (round && (round.state === 'closed' || round.state === 'failed')) return round;
    if (Date.now() > until)
      throw new Error(`round ${roundId} still ${round?.state ?? 'missing'} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flock-fed-mnist-'));
  coordinator = await createCoordinator({ dataDir: join(dir, 'data'), log: createLogger({ level: 'silent' }) });
  adminKey = coordinator.initialAdminKey!;
  server = serve({ fetch: coordinator.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((ready, fail) => {
    server.once('listening', ready);
    server.once('error', fail);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const model = createMnistModel('mlp-small', { seed: 7 });
  topology = partsFromModel(model).topology;
  await writeModelDirectory(model, join(dir, 'model'));
  model.dispose();
  const form = new FormData();
  for (const file of ['model.json', 'weights.bin'])
    form.append(file, new Blob([await readFile(join(dir, 'model', file))]), file);
  form.append('stage', 'production');
  const pushed = await admin<ModelVersionView>(`/v1/admin/models/${APP}`, { method: 'POST', body: form });
  expect(pushed.status).toBe(201);
  expect(pushed.body).toMatchObject({ version: 1, stage: 'production', source: 'push' });
  test = loadMnist({ split: 'test', limit: 1000 });
});

afterAll(async () => {
  server?.close();
  await coordinator?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('federated MNIST over HTTP', () => {
  it('improves an untrained mlp-small over three rounds of four clients, with lineage', async () => {
    const created = await admin<TaskView>('/v1/admin/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        app: APP,
        modelVersion: 1,
        name: 'integration',
        plan: {
          population: 20,
          clientsPerRound: CLIENTS,
          minReports: CLIENTS,
          localEpochs: 1,
          batchSize: 20,
          learningRate: 0.1,
          clipNorm: 10,
          updateEncoding: { encoding: 'int8' },
          roundDeadlineSeconds: 120,
        },
      }),
    });
    expect(created.status).toBe(201);
    const taskId = created.body.id;

    const publicKey = (await new FlockTransport({ baseUrl }).getPublicKey()).publicKey;
    // Each client is a device as the SDK keeps one: a store holding its identity, the
    // verified active model (v1) and its recorded examples; rounds run through the
    // SDK's round loop (TrainingScheduler via runBackgroundRound), outbox included.
    const clients: Array<{ transport: FlockTransport; deviceId: string; store: ClientStore }> = [];
    for (let i = 0; i < CLIENTS; i++) {
      const transport = new FlockTransport({ baseUrl });
      const registered = await transport.register({
        app: APP,
        platform: { runtime: 'node' },
        protocolVersion: PROTOCOL_VERSION,
      });
      expect(registered.app).toBe(APP);
      const store = createMemoryStore();
      await store.putDevice({ app: APP, deviceId: registered.deviceId, token: registered.token });
      const synced = await syncModel({ transport, store, app: APP, publicKey, slowBackend: false, variant: 'fp32' });
      if (synced.status === 'updated') synced.loaded.model.dispose();
      const shard = loadMnist({ split: 'train', offset: i * SHARD, limit: SHARD });
      for (let e = 0; e < shard.count; e++)
        await store.addExample(APP, shard.images.slice(e * 784, (e + 1) * 784), shard.labels[e]);
      clients.push({ transport, deviceId: registered.deviceId, store });
    }

    const accuracy = [await accuracyOf(1)];
    let version = 1;
    for (let round = 1; round <= ROUNDS; round++) {
      const results = await Promise.all(
        clients.map(async (c) => {
          const [outcome] = await runBackgroundRound({
            url: baseUrl,
            app: APP,
            tasks: [taskId],
            store: c.store,
            backend: 'cpu',
            runtime: 'node',
            timeCapMs: 120_000,
          });
          return outcome;
        }),
      );
      const roundIds = new Set<string>();
      for (const r of results) {
        if (r.status !== 'uploaded') throw new Error(`round ${round}: a client did not upload (${JSON.stringify(r)})`);
        roundIds.add(r.roundId);
      }
      for (const c of clients) expect((await c.store.countOutbox()).update).toBe(0);
      expect(roundIds.size).toBe(1);
      const [roundId] = roundIds;

      const closed = await waitForRound(taskId, roundId);
      expect(closed).toMatchObject({ state: 'closed', reports: CLIENTS, globalVersion: version, failureReason: null });
      const next = closed.resultVersion!;
      const view = (await admin<ModelVersionView>(`/v1/admin/models/${APP}/versions/${next}`)).body;
      expect(view).toMatchObject({
        version: version + 1,
        parentVersion: version,
        source: 'round',
        roundId,
        clients: CLIENTS,
        clipNorm: 10,
      });

      // A replayed upload (a lost answer, retried) gets the first receipt back, not a second update.
      const meta = {
        roundId,
        deviceId: clients[0].deviceId,
        numExamples: SHARD,
        preClipNorm: 1,
        epochs: 1,
        encoding: 'int8' as const,
      };
      const replay = await clients[0].transport.uploadUpdate(roundId, new Uint8Array(8), meta);
      expect(replay).toMatchObject({ roundId, deviceId: clients[0].deviceId, accepted: true, duplicate: true });
      const participants = await coordinator.deps.store.listParticipants(roundId);
      expect(participants.map((p) => p.declaredExamples)).toEqual(Array(CLIENTS).fill(SHARD));

      version = next;
      accuracy.push(await accuracyOf(version));
    }
    console.log(
      `federated-mnist accuracy by version (v1 = untrained): ${accuracy.map((a) => a.toFixed(3)).join(' -> ')}`,
    );
    expect(accuracy[ROUNDS]).toBeGreaterThan(0.6);
    expect(accuracy[ROUNDS] - accuracy[0]).toBeGreaterThan(0.3);
  });

  it('retries a flaky gateway in front of the real coordinator, and only 5xx', async () => {
    let failuresLeft = 2;
    let requests = 0;
    // A real HTTP hop that answers 503 twice, then forwards to the coordinator.
    const gateway: Server = createServer(async (req, res) => {
      requests++;
      if (failuresLeft > 0) {
        failuresLeft--;
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal', message: 'gateway warming up' } }));
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length' && k !== 'connection'),
      ) as Record<string, string>;
      const upstream = await fetch(`${baseUrl}${req.url}`, {
        method: req.method,
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    try {
      const transport = new FlockTransport({
        baseUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`,
        retry: { baseDelayMs: 5 },
      });
      const registered = await transport.register({ app: APP, platform: { runtime: 'node' } });
      expect(requests).toBe(3);

      const unknownTask = await transport
        .checkIn('task_nope', { deviceId: registered.deviceId, taskId: 'task_nope', numExamples: 50 })
        .catch((e: unknown) => e);
      expect(unknownTask).toBeInstanceOf(FlockHttpError);
      expect(unknownTask).toMatchObject({ status: 404, code: 'not_found' });
      expect(requests).toBe(4);

      const fresh = await transport.getManifest(APP);
      if (fresh.status !== 'modified') throw new Error('expected a manifest body on the first request');
      const key = await transport.getPublicKey();
      await expect(verifyManifest(fresh.signedManifest, key.publicKey, { app: APP })).resolves.toMatchObject({
        app: APP,
        version: 1,
      });
      await expect(transport.getManifest(APP, { etag: fresh.etag! })).resolves.toEqual({
        status: 'not_modified',
        etag: fresh.etag,
      });

      const topologyBlob = await transport.getBlob(fresh.signedManifest.manifest.modelTopologyHash);
      expect(JSON.parse(new TextDecoder().decode(topologyBlob))).toMatchObject({ class_name: 'Sequential' });
    } finally {
      gateway.closeAllConnections();
      await new Promise((resolve) => gateway.close(resolve));
    }
  });
});
