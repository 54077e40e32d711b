/**
 * Admission before the body (issue: one device token, 24 parallel 63 MB
 * bodies to a round that does not exist, took the server from 545 to 1475 MB):
 * refusals are answered without pulling the body, a body is never read past
 * the model's largest update, and a device has at most two uploads in flight.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WeightSpec } from '../../shared/model/index.ts';
import { UPDATE_META_HEADER, type CheckInSelected } from '../../shared/protocol/index.ts';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { maxUpdateBytes } from '../rounds/validate-update.ts';
import {
  checkIn,
  createTask,
  deltaTensors,
  encodeUpdate,
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
  updateMeta,
  type Fetcher,
  type FleetDevice,
} from './fleet.fixture.ts';

let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let specs: WeightSpec[];
const adminKey = testAdminKey();

/** A body that counts what the server pulls; `gate` holds it open until resolved. */
function countingBody(totalBytes: number, chunkBytes = 64 * 1024, gate?: Promise<void>) {
  const state = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await (gate ?? Promise.resolve());
      if (state.pulled >= totalBytes) return controller.close();
      const n = Math.min(chunkBytes, totalBytes - state.pulled);
      state.pulled += n;
      controller.enqueue(new Uint8Array(n));
    },
  });
  return { stream, state };
}

function put(d: FleetDevice, roundId: string, body: BodyInit, meta = JSON.stringify(updateMeta(roundId, d.deviceId))) {
  return flock.app.request(`/v1/rounds/${roundId}/updates`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${d.token}`,
      'content-type': 'application/octet-stream',
      [UPDATE_META_HEADER]: meta,
    },
    body,
    duplex: 'half',
  } as RequestInit);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-upload-admission-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    rateLimits: { registerPerIp: { limit: 1000, windowMs: 60_000 }, perDevice: { limit: 1000, windowMs: 60_000 } },
  });
  f = async (path, init) => flock.app.request(path, init);
  expect((await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small'), 'production')).status).toBe(201);
  specs = (await flock.deps.store.getModelVersion('digits', 1))!.weightSpecs;
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('uploads are admitted before their body is read', () => {
  let device: FleetDevice;
  let outsider: FleetDevice;
  let roundId: string;

  beforeAll(async () => {
    const res = await createTask(f, adminKey, 'digits', 1, {
      population: 100,
      clientsPerRound: 3,
      minReports: 3,
      roundDeadlineSeconds: 600,
      clipNorm: 1,
    });
    const taskId = ((await res.json()) as { id: string }).id;
    device = await registerDevice(f, 'digits');
    outsider = await registerDevice(f, 'digits');
    roundId = ((await checkIn(f, device, taskId)).body as CheckInSelected).roundId;
  });

  it('answers a round that does not exist, and a device not selected, without pulling the body', async () => {
    const big = countingBody(63 * 1024 * 1024);
    const unknown = await put(device, 'rnd_nope', big.stream, JSON.stringify(updateMeta('rnd_nope', device.deviceId)));
    expect(unknown.status).toBe(404);
    const notSelected = countingBody(63 * 1024 * 1024);
    expect((await put(outsider, roundId, notSelected.stream)).status).toBe(403);
    // At most the one chunk a stream may be asked for ahead of time.
    expect(big.state.pulled).toBeLessThanOrEqual(64 * 1024);
    expect(notSelected.state.pulled).toBeLessThanOrEqual(64 * 1024);
  });

  it("stops reading at the model's largest update: 413, nothing stored", async () => {
    const cap = maxUpdateBytes(specs);
    const body = countingBody(cap * 4);
    const res = await put(device, roundId, body.stream);
    expect(res.status).toBe(413);
    expect(body.state.pulled).toBeLessThan(cap + 2 * 64 * 1024);
    expect(await flock.deps.store.listUpdates(roundId)).toHaveLength(0);
    // A declared Content-Length over the cap is refused before any byte.
    const declared = await flock.app.request(`/v1/rounds/${roundId}/updates`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${device.token}`,
        'content-type': 'application/octet-stream',
        'content-length': String(cap + 1),
        [UPDATE_META_HEADER]: JSON.stringify(updateMeta(roundId, device.deviceId)),
      },
      body: new Uint8Array(cap + 1),
    });
    expect(declared.status).toBe(413);
  });

  it('lets a device have two uploads in flight; the third gets 429 with Retry-After, and a valid upload still lands', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const slow = [countingBody(1024, 512, gate), countingBody(1024, 512, gate)];
    const pending = slow.map((b) => put(device, roundId, b.stream));
    await new Promise((r) => setTimeout(r, 50));
    const third = await put(device, roundId, encodeUpdate(deltaTensors(specs, () => 0)) as Uint8Array<ArrayBuffer>);
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    open();
    for (const p of pending) expect((await p).status).toBe(422); // 1 KB of zeros is not a Flock update
    const good = await put(
      device,
      roundId,
      encodeUpdate(deltaTensors(specs, (t, i) => 1e-4 * ((i % 7) - 3))) as Uint8Array<ArrayBuffer>,
    );
    expect(good.status).toBe(200);
    expect(await flock.deps.store.listUpdates(roundId)).toHaveLength(1);
  });
});
