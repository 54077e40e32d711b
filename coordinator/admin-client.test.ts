/**
 * The typed admin client against a real coordinator (SQLite in a temporary
 * directory, through `app.request`), and against sockets that refuse or never
 * answer: success bodies, the server's error code and status, a blob
 * download, and the client's own `unreachable` / `timeout`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { SignedManifest } from '../shared/manifest/index.ts';
import { AdminApiError, adminAnswer, adminBytes, adminClient, type AdminApi } from './admin-client.ts';
import { createCoordinator, type Coordinator } from './coordinator.ts';
import { mnistModelFiles, registerDevice, testAdminKey } from './routes/fleet.fixture.ts';

const adminKey = testAdminKey();
let dataDir: string;
let flock: Coordinator;
let api: AdminApi;
const request = (url: string, init?: RequestInit) => Promise.resolve(flock.app.request(url, init));

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-admin-client-'));
  flock = await createCoordinator({ dataDir, adminKey, log: pino({ level: 'silent' }), sweep: false });
  api = adminClient({ baseUrl: 'http://flock.test', adminKey, fetch: request });
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('adminClient', () => {
  it('pushes a model, reads it back typed, and downloads its blobs', async () => {
    const form = new FormData();
    for (const [name, bytes] of await mnistModelFiles('2nn', 1))
      form.append(name, new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
    form.append('stage', 'production');
    const pushed = await adminAnswer(
      api.v1.admin.models[':app'].$post({ param: { app: 'digits' } }, { init: { body: form } }),
    );
    expect(pushed).toMatchObject({ app: 'digits', version: 1, stage: 'production' });
    expectTypeOf(pushed.refusedVariants).toBeArray();

    const { versions } = await adminAnswer(api.v1.admin.models[':app'].versions.$get({ param: { app: 'digits' } }));
    expect(versions.map((v) => v.version)).toEqual([1]);
    const variant = versions[0].variants.find((v) => v.encoding === 'fp32');
    expect(variant).toBeDefined();

    const device = await registerDevice(request, 'digits');
    const manifest = await flock.app.request('/v1/apps/digits/manifest', {
      headers: { authorization: `Bearer ${device.token}` },
    });
    const body = (await manifest.json()) as SignedManifest;
    const hash = body.manifest.variants.find((v) => v.encoding === 'fp32')!.shards[0].hash;
    const bytes = await adminBytes(api.v1.blobs[':hash'].$get({ param: { hash } }));
    expect(bytes.byteLength).toBe(body.manifest.variants.find((v) => v.encoding === 'fp32')!.shards[0].size);
  });

  it('types the manifest body once the status is narrowed to 200 (304 has none)', async () => {
    const device = await registerDevice(request, 'digits');
    const devices = adminClient({ baseUrl: 'http://flock.test', adminKey: device.token, fetch: request });
    const res = await devices.v1.apps[':app'].manifest.$get({ param: { app: 'digits' } });
    expect(res.status).toBe(200);
    if (res.status !== 200) return;
    const body = await res.json();
    expectTypeOf(body).toEqualTypeOf<SignedManifest>();
    expect(body.manifest.app).toBe('digits');
  });

  it("throws the server's error code, message and status", async () => {
    const missing = await adminAnswer(api.v1.admin.tasks[':id'].$get({ param: { id: 'task_none' } })).catch((e) => e);
    expect(missing).toBeInstanceOf(AdminApiError);
    expect(missing).toMatchObject({ code: 'not_found', status: 404, message: 'no task task_none' });

    const wrongKey = adminClient({ baseUrl: 'http://flock.test', adminKey: testAdminKey(), fetch: request });
    const refused = await adminAnswer(wrongKey.v1.admin.tasks.$get()).catch((e) => e);
    expect(refused).toMatchObject({ code: 'unauthorized', status: 401 });

    const unknownVersion = await adminAnswer(
      api.v1.admin.tasks.$post({ json: { app: 'digits', modelVersion: 99, plan: { population: 10 } } }),
    ).catch((e) => e);
    expect(unknownVersion).toMatchObject({ code: 'not_found', status: 404 });
    expect(unknownVersion.message).toContain('flock model push');
  });

  it('reports a refused connection as unreachable and a silent server as timeout', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = await adminAnswer(
      adminClient({ baseUrl: `http://127.0.0.1:${closedPort}`, adminKey }).v1.admin.tasks.$get(),
    ).catch((e) => e);
    expect(refused).toMatchObject({ code: 'unreachable', status: null });

    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const late = await adminAnswer(
        adminClient({ baseUrl: base, adminKey, timeoutMs: 200 }).v1.admin.tasks.$get(),
      ).catch((e) => e);
      expect(late).toMatchObject({ code: 'timeout', status: null });
      expect(late.message).toContain('0.2 s');
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });
});
