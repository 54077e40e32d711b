/**
 * Registration, admin auth, the model registry's delivery side (signed
 * manifest with ETag, immutable blobs) and /openapi.json, through
 * `app.request` on a real SQLite data directory.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyManifest } from '../../shared/manifest/index.ts';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import {
  createTask,
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
  type Fetcher,
  type FleetDevice,
} from './fleet.fixture.ts';

let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
const adminKey = testAdminKey();
let files: Map<string, Uint8Array>;
let device: FleetDevice;

const admin = { authorization: `Bearer ${adminKey}` };

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-registry-routes-'));
  flock = await createCoordinator({ dataDir, adminKey, log: pino({ level: 'silent' }), sweep: false });
  f = async (path, init) => flock.app.request(path, init);
  files = await mnistModelFiles('mlp-small');
  device = await registerDevice(f, 'digits');
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('registration', () => {
  it('returns a device id and a token that authenticates, stored only hashed', async () => {
    const res = await f('/v1/devices', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ app: 'digits', platform: { runtime: 'browser' } }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { deviceId: string; token: string; app: string; protocolVersion: number };
    expect(body.app).toBe('digits');
    expect(body.token.startsWith(`flk_dev_${body.deviceId}.`)).toBe(true);
    const stored = await flock.deps.store.getDevice(body.deviceId);
    expect(stored?.tokenHash).toBe(createHash('sha256').update(body.token).digest('hex'));
    const list = (await (await f('/v1/admin/devices', { headers: admin })).json()) as {
      devices: Record<string, unknown>[];
    };
    const listed = list.devices.find((d) => d.deviceId === body.deviceId);
    expect(listed).toBeDefined();
    expect(JSON.stringify(list)).not.toContain(body.token);
    expect(listed).not.toHaveProperty('tokenHash');
  });

  it('refuses a malformed registration with 400 validation_failed', async () => {
    const res = await f('/v1/devices', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ app: 'Not An App!' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
  });
});

describe('admin auth', () => {
  it('answers 401 without credentials or with an unknown key, 403 with a device token, and changes nothing', async () => {
    const auditBefore = (await flock.deps.store.listAudit({ limit: 1000 })).length;
    const attempts: Array<[Record<string, string>, number]> = [
      [{}, 401],
      [{ authorization: `Bearer ${testAdminKey()}` }, 401],
      [{ authorization: 'Bearer nonsense' }, 401],
      [{ authorization: `Bearer ${device.token}` }, 403],
    ];
    for (const [headers, status] of attempts) {
      const form = new FormData();
      for (const [name, bytes] of files) form.append(name, new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
      const push = await f('/v1/admin/models/digits', { method: 'POST', headers, body: form });
      expect(push.status).toBe(status);
      const body = (await push.json()) as { error: { code: string } };
      expect(body.error.code).toBe(status === 401 ? 'unauthorized' : 'forbidden');
      const task = await f('/v1/admin/tasks', {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ app: 'digits', modelVersion: 1, plan: { population: 10 } }),
      });
      expect(task.status).toBe(status);
      expect((await f('/v1/admin/audit', { headers })).status).toBe(status);
    }
    expect(await flock.deps.store.listModelVersions('digits')).toHaveLength(0);
    expect(await flock.deps.store.listTasks()).toHaveLength(0);
    expect(await flock.deps.store.listAudit({ limit: 1000 })).toHaveLength(auditBefore);
  });

  it('a device token cannot read another route group as admin either', async () => {
    const res = await f('/v1/admin/tasks', { headers: { authorization: `Bearer ${device.token}` } });
    expect(res.status).toBe(403);
  });
});

describe('manifest and blobs', () => {
  const manifestOf = () => f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${device.token}` } });

  it('has no manifest before a production version, even with a candidate pushed', async () => {
    expect((await manifestOf()).status).toBe(404);
    const res = await pushModel(f, adminKey, 'digits', files);
    expect(res.status).toBe(201);
    expect(((await res.json()) as { version: number; stage: string }).stage).toBe('candidate');
    const none = await manifestOf();
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('publishes a signed manifest on push with stage=production; ETag and If-None-Match give 304', async () => {
    const pushed = await pushModel(f, adminKey, 'digits', files, 'production');
    expect(pushed.status).toBe(201);
    const view = (await pushed.json()) as {
      version: number;
      parentVersion: number | null;
      stage: string;
      source: string;
    };
    expect(view).toMatchObject({ version: 2, parentVersion: 1, stage: 'production', source: 'push' });

    const res = await manifestOf();
    expect(res.status).toBe(200);
    const etag = res.headers.get('etag');
    expect(etag).toBe('"g1"');
    const key = (await (await f('/v1/keys/manifest')).json()) as {
      algorithm: string;
      publicKey: string;
      keyId: string;
    };
    expect(key.algorithm).toBe('Ed25519');
    const manifest = await verifyManifest(await res.json(), key.publicKey, { app: 'digits' });
    expect(manifest.version).toBe(2);
    expect(manifest.generation).toBe(1);
    expect(manifest.variants.map((v) => v.encoding).sort()).toEqual(['fp16', 'fp32', 'int8']);

    const cached = await f('/v1/apps/digits/manifest', {
      headers: { authorization: `Bearer ${device.token}`, 'if-none-match': etag! },
    });
    expect(cached.status).toBe(304);
    expect(await cached.text()).toBe('');
    const stale = await f('/v1/apps/digits/manifest', {
      headers: { authorization: `Bearer ${device.token}`, 'if-none-match': '"g0"' },
    });
    expect(stale.status).toBe(200);
  });

  it('a tampered manifest fails verification', async () => {
    const key = (await (await f('/v1/keys/manifest')).json()) as { publicKey: string };
    const signed = (await (await manifestOf()).json()) as { manifest: { version: number } };
    signed.manifest.version = 1;
    await expect(verifyManifest(signed, key.publicKey)).rejects.toThrow(/signature/);
  });

  it('serves blobs by hash with immutable caching; bad hash 400, unknown 404, no token 401', async () => {
    const key = (await (await f('/v1/keys/manifest')).json()) as { publicKey: string };
    const manifest = await verifyManifest(await (await manifestOf()).json(), key.publicKey);
    const auth = { authorization: `Bearer ${device.token}` };
    for (const variant of manifest.variants) {
      const res = await f(`/v1/blobs/${variant.sha256}`, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('etag')).toBe(`"${variant.sha256}"`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(bytes.byteLength).toBe(variant.totalBytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(variant.sha256);
    }
    const bad = await f('/v1/blobs/not-a-hash', { headers: auth });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    const unknown = await f(`/v1/blobs/${'0'.repeat(64)}`, { headers: auth });
    expect(unknown.status).toBe(404);
    expect((await f(`/v1/blobs/${manifest.variants[0].sha256}`)).status).toBe(401);
    expect((await f(`/v1/blobs/${manifest.variants[0].sha256}`, { headers: admin })).status).toBe(200);
  });

  it("scopes blobs to the device's app: another app's model and bytes no version refers to (a stored update) are 404 to a device, not to an admin", async () => {
    const key = (await (await f('/v1/keys/manifest')).json()) as { publicKey: string };
    const manifest = await verifyManifest(await (await manifestOf()).json(), key.publicKey);
    const other = await registerDevice(f, 'inbox');
    const weights = manifest.variants[0].sha256;
    expect((await f(`/v1/blobs/${weights}`, { headers: { authorization: `Bearer ${other.token}` } })).status).toBe(404);
    expect(
      (
        await f(`/v1/blobs/${weights}`, { headers: { authorization: `Bearer ${other.token}` }, method: 'GET' })
      ).headers.get('etag'),
    ).toBeNull();
    const loose = await flock.deps.store.blobs.put(new TextEncoder().encode('a raw update from some device'));
    expect((await f(`/v1/blobs/${loose.hash}`, { headers: { authorization: `Bearer ${device.token}` } })).status).toBe(
      404,
    );
    expect((await f(`/v1/blobs/${loose.hash}`, { headers: admin })).status).toBe(200);
    for (const shard of manifest.variants[0].shards) {
      expect(
        (await f(`/v1/blobs/${shard.hash}`, { headers: { authorization: `Bearer ${device.token}` } })).status,
      ).toBe(200);
    }
  });

  it('lists versions with lineage for admins', async () => {
    const res = await f('/v1/admin/models/digits/versions', { headers: admin });
    const { versions } = (await res.json()) as {
      versions: Array<{ version: number; parentVersion: number | null; stage: string }>;
    };
    expect(versions.map((v) => [v.version, v.parentVersion, v.stage])).toEqual([
      [2, 1, 'production'],
      [1, null, 'candidate'],
    ]);
    expect((await f('/v1/admin/models/digits/versions/9', { headers: admin })).status).toBe(404);
  });

  it('refuses a task on a version that does not exist', async () => {
    const res = await createTask(f, adminKey, 'digits', 42, { population: 10 });
    expect(res.status).toBe(404);
  });
});

describe('/openapi.json', () => {
  it('documents the device and admin paths', async () => {
    const doc = (await (await f('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const expected: Array<[string, string]> = [
      ['/v1/devices', 'post'],
      ['/v1/apps/{app}/manifest', 'get'],
      ['/v1/blobs/{hash}', 'get'],
      ['/v1/tasks/{taskId}/checkin', 'post'],
      ['/v1/rounds/{roundId}/updates', 'put'],
      ['/v1/telemetry', 'post'],
      ['/v1/admin/models/{app}', 'post'],
      ['/v1/admin/models/{app}/versions', 'get'],
      ['/v1/admin/tasks', 'post'],
      ['/v1/admin/tasks/{id}/rounds', 'get'],
    ];
    for (const [path, method] of expected) expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
  });
});
