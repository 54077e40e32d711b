import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from './errors.ts';
import { hashSecret } from './identity-ops.ts';
import { openSqliteStore } from './sqlite-store.ts';
import type { NewModelVersion, Store } from './store.ts';

let dataDir: string;
let store: Store | undefined;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-store-'));
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

const modelInput = (app = 'digits', extra: Partial<NewModelVersion> = {}): NewModelVersion => ({
  app,
  source: 'push',
  topology: { class_name: 'Sequential', config: { layers: [] } },
  weightSpecs: [{ name: 'dense/kernel', shape: [784, 10] }, { name: 'dense/bias', shape: [10] }],
  inputSpec: { shape: [28, 28, 1], dtype: 'float32' },
  labels: ['0', '1', '2'],
  variants: [{ encoding: 'fp32', totalBytes: 31400, sha256: 'a'.repeat(64), shards: [{ hash: 'b'.repeat(64), size: 31400 }] }],
  metrics: { accuracy: 0.91 },
  ...extra,
});

describe('opening and migrations', () => {
  it('creates flock.db in WAL mode and blobs/, runs migrations once, and keeps data on reopen', async () => {
    store = await openSqliteStore({ dataDir });
    expect((await readdir(dataDir)).sort()).toEqual(expect.arrayContaining(['blobs', 'flock.db']));
    await store.setSetting('coordinator.keys', { publicKey: 'pk', secretKey: 'sk' });
    const v1 = await store.createModelVersion(modelInput());
    const { hash } = await store.blobs.put(new Uint8Array([1, 2, 3]));
    await store.close();

    const raw = new BetterSqlite3(join(dataDir, 'flock.db'), { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    const applied = raw.prepare('select name from kysely_migration').all() as { name: string }[];
    raw.close();
    expect(applied.map((r) => r.name)).toEqual(['0001_initial']);

    store = await openSqliteStore({ dataDir });
    expect(await store.getSetting('coordinator.keys')).toEqual({ publicKey: 'pk', secretKey: 'sk' });
    expect(await store.getModelVersion('digits', 1)).toEqual(v1);
    expect(await store.blobs.has(hash)).toBe(true);
    const raw2 = new BetterSqlite3(join(dataDir, 'flock.db'), { readonly: true });
    expect((raw2.prepare('select count(*) n from kysely_migration').get() as { n: number }).n).toBe(1);
    raw2.close();
    // Numbering continues after the reopen.
    expect((await store.createModelVersion(modelInput())).version).toBe(2);
  });

  it('refuses to open the same data directory twice in one process', async () => {
    store = await openSqliteStore({ dataDir });
    await expect(openSqliteStore({ dataDir })).rejects.toMatchObject({ code: 'conflict' });
  });

  it('enforces foreign keys', async () => {
    store = await openSqliteStore({ dataDir });
    await expect(store.createTask({ app: 'digits', name: 't', modelVersion: 9, plan: {}, budget: { epsilon: 1, delta: 1e-5 } }))
      .rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('settings, admin keys and devices', () => {
  it('keeps settings as JSON and lets the first writer win with setSettingIfAbsent', async () => {
    store = await openSqliteStore({ dataDir });
    expect(await store.getSetting('missing')).toBeNull();
    await store.setSetting('n', 1);
    await store.setSetting('n', { a: [1, 'x', null, true] });
    expect(await store.getSetting('n')).toEqual({ a: [1, 'x', null, true] });
    const results = await Promise.all(['first', 'second', 'third'].map((v) => store!.setSettingIfAbsent('keypair', v)));
    expect(new Set(results).size).toBe(1);
    expect(await store.getSetting('keypair')).toBe(results[0]);
  });

  it('verifies admin keys by hash and honours revocation', async () => {
    store = await openSqliteStore({ dataDir });
    const key = await store.createAdminKey({ keyHash: hashSecret('s3cret'), label: 'first start' });
    expect(key.keyHash).not.toContain('s3cret');
    expect((await store.verifyAdminKey('s3cret'))?.id).toBe(key.id);
    expect(await store.verifyAdminKey('s3cres')).toBeNull();
    expect(await store.revokeAdminKey(key.id)).toBe(true);
    expect(await store.revokeAdminKey(key.id)).toBe(false);
    expect(await store.verifyAdminKey('s3cret')).toBeNull();
    expect((await store.listAdminKeys())[0].revokedAt).not.toBeNull();
    await expect(store.createAdminKey({ keyHash: hashSecret('s3cret'), label: 'dup' })).rejects.toMatchObject({ code: 'conflict' });
  });

  it('stores devices with hashed tokens, verifies tokens and counts per app', async () => {
    let clock = Date.parse('2025-01-01T00:00:00Z');
    store = await openSqliteStore({ dataDir, now: () => new Date(clock) });
    const device = await store.createDevice({ deviceId: 'd1', app: 'digits', tokenHash: hashSecret('tok'), platform: { ua: 'x' }, capabilities: { webgpu: true } });
    await store.createDevice({ deviceId: 'd2', app: 'digits', tokenHash: hashSecret('tok2') });
    await store.createDevice({ deviceId: 'd3', app: 'other', tokenHash: hashSecret('tok3') });
    expect(device.capabilities).toEqual({ webgpu: true });
    expect((await store.verifyDeviceToken('d1', 'tok'))?.deviceId).toBe('d1');
    expect(await store.verifyDeviceToken('d1', 'tok2')).toBeNull();
    expect(await store.verifyDeviceToken('nobody', 'tok')).toBeNull();
    await expect(store.createDevice({ deviceId: 'd1', app: 'digits', tokenHash: 'x' })).rejects.toMatchObject({ code: 'conflict' });
    clock += 60_000;
    await store.touchDevice('d1');
    expect((await store.getDevice('d1'))?.lastSeenAt).toBe('2025-01-01T00:01:00.000Z');
    expect(await store.countDevices('digits')).toBe(2);
    expect((await store.listDevices({ app: 'digits', limit: 1, offset: 1 })).map((d) => d.deviceId)).toEqual(['d2']);
  });
});

describe('model registry and manifests', () => {
  it('allocates version numbers atomically per app under concurrent calls', async () => {
    store = await openSqliteStore({ dataDir });
    const made = await Promise.all(Array.from({ length: 30 }, (_, i) => store!.createModelVersion(modelInput(i % 3 === 0 ? 'b' : 'a'))));
    const byApp = (app: string) => made.filter((m) => m.app === app).map((m) => m.version).sort((x, y) => x - y);
    expect(byApp('a')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(byApp('b')).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect((await store.latestModelVersion('a'))?.version).toBe(20);
    expect(await store.listApps()).toEqual(['a', 'b']);
  });

  it('round-trips every field, checks the parent, and moves stages with audited history', async () => {
    store = await openSqliteStore({ dataDir });
    const v1 = await store.createModelVersion(modelInput());
    expect(v1).toMatchObject({ version: 1, stage: 'candidate', labels: ['0', '1', '2'], metrics: { accuracy: 0.91 } });
    expect(v1.weightSpecs[0].shape).toEqual([784, 10]);
    const v2 = await store.createModelVersion(modelInput('digits', { source: 'round', parentVersion: 1, roundId: 'r1', clients: 10, clipNorm: 1.5, noiseMultiplier: 1.1, epsilon: 0.3 }));
    expect(v2).toMatchObject({ version: 2, parentVersion: 1, clients: 10, clipNorm: 1.5, noiseMultiplier: 1.1, epsilon: 0.3, source: 'round' });
    await expect(store.createModelVersion(modelInput('digits', { parentVersion: 99 }))).rejects.toMatchObject({ code: 'not_found' });

    const t = await store.setStage('digits', 2, { to: 'canary', actor: 'admin:k1', reason: 'rollout' });
    expect(t).toMatchObject({ from: 'candidate', to: 'canary', actor: 'admin:k1' });
    await expect(store.setStage('digits', 2, { to: 'production', actor: 'system', expectedFrom: 'candidate' })).rejects.toMatchObject({ code: 'conflict' });
    await store.setStage('digits', 2, { to: 'production', actor: 'system', expectedFrom: 'canary' });
    await expect(store.setStage('digits', 7, { to: 'archived', actor: 'system' })).rejects.toBeInstanceOf(StoreError);
    expect((await store.getModelVersion('digits', 2))?.stage).toBe('production');
    expect((await store.stageHistory('digits', 2)).map((h) => `${h.from}->${h.to}`)).toEqual(['null->candidate', 'candidate->canary', 'canary->production']);
    expect((await store.listModelVersions('digits', { stage: 'production' })).map((v) => v.version)).toEqual([2]);
    // The version row itself did not change.
    expect((await store.getModelVersion('digits', 2))?.createdAt).toBe(v2.createdAt);
  });

  it('publishes manifests with a monotonic generation, also under concurrency', async () => {
    store = await openSqliteStore({ dataDir });
    await store.createModelVersion(modelInput());
    await store.createModelVersion(modelInput());
    expect(await store.latestManifest('digits')).toBeNull();
    const published = await Promise.all(Array.from({ length: 12 }, (_, i) => store!.publishManifest({
      app: 'digits', version: (i % 2) + 1, sign: async (generation) => ({ generation, version: (i % 2) + 1, sig: `s${generation}` }),
    })));
    expect(published.map((m) => m.generation).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const m of published) expect(m.signedManifest.generation).toBe(m.generation);
    const latest = await store.latestManifest('digits');
    expect(latest?.generation).toBe(12);
    expect((await store.getManifest('digits', 3))?.signedManifest.sig).toBe('s3');
    await expect(store.publishManifest({ app: 'digits', version: 5, sign: () => ({}) })).rejects.toMatchObject({ code: 'not_found' });
    // A failed signer rolls the generation back: no gap.
    await expect(store.publishManifest({ app: 'digits', version: 1, sign: () => { throw new Error('hsm down'); } })).rejects.toThrow('hsm down');
    expect((await store.publishManifest({ app: 'digits', version: 1, sign: (g) => ({ g }) })).generation).toBe(13);
  });
});

describe('tasks', () => {
  it('creates, patches and guards status changes', async () => {
    store = await openSqliteStore({ dataDir });
    await store.createModelVersion(modelInput());
    const task = await store.createTask({ app: 'digits', name: 'mnist', modelVersion: 1, plan: { clientsPerRound: 10 }, budget: { epsilon: 8, delta: 1e-5 }, clipNorm: 1 });
    expect(task).toMatchObject({ currentVersion: 1, status: 'active', epsilonSpent: 0, accountant: { orders: [], rdp: [] } });
    const patched = await store.updateTask(task.id, { currentVersion: 1, epsilonSpent: 0.5, accountant: { orders: [2, 4], rdp: [0.1, 0.2] }, clipNorm: 0.8, optimizerStateHash: 'c'.repeat(64) });
    expect(patched).toMatchObject({ epsilonSpent: 0.5, accountant: { orders: [2, 4], rdp: [0.1, 0.2] }, clipNorm: 0.8, optimizerStateHash: 'c'.repeat(64) });
    await store.updateTask(task.id, { status: 'paused' }, { ifStatus: ['active'] });
    await expect(store.updateTask(task.id, { status: 'done' }, { ifStatus: ['active'] })).rejects.toMatchObject({ code: 'conflict' });
    await expect(store.updateTask('nope', { status: 'done' })).rejects.toMatchObject({ code: 'not_found' });
    expect((await store.listTasks({ app: 'digits', status: 'paused' })).map((t) => t.id)).toEqual([task.id]);
    await expect(store.createTask({ app: 'digits', name: 'x', modelVersion: 1, plan: {}, budget: { epsilon: 0, delta: 1e-5 } })).rejects.toMatchObject({ code: 'invalid' });
  });
});

describe('audit log and telemetry', () => {
  it('appends audit entries and pages newest first with filters', async () => {
    store = await openSqliteStore({ dataDir });
    for (let i = 0; i < 7; i++) {
      await store.appendAudit({ actor: i % 2 ? 'admin:k1' : 'system', action: i < 3 ? 'model.push' : 'task.create', target: `t${i}`, details: { i } });
    }
    const page1 = await store.listAudit({ limit: 3 });
    expect(page1.map((e) => e.details.i)).toEqual([6, 5, 4]);
    const page2 = await store.listAudit({ limit: 3, beforeId: page1[2].id });
    expect(page2.map((e) => e.details.i)).toEqual([3, 2, 1]);
    expect((await store.listAudit({ actor: 'admin:k1' })).map((e) => e.details.i)).toEqual([5, 3, 1]);
    expect((await store.listAudit({ action: 'model.push', actor: 'system' })).map((e) => e.target)).toEqual(['t2', 't0']);
    await expect(store.appendAudit({ actor: '', action: 'x' })).rejects.toMatchObject({ code: 'invalid' });
  });

  it('appends telemetry in batches and queries by app, version, kind and since', async () => {
    store = await openSqliteStore({ dataDir });
    const events = Array.from({ length: 450 }, (_, i) => ({
      deviceId: `d${i % 5}`, app: 'digits', version: i % 2 ? 2 : 1, kind: i % 3 ? 'latency' : 'confidence',
      payload: { ms: i }, at: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(),
    }));
    expect(await store.appendTelemetry(events)).toBe(450);
    const expected = events.filter((e) => e.version === 2 && e.kind === 'latency' && e.at >= '2025-01-01T00:05:00.000Z');
    const got = await store.listTelemetry({ app: 'digits', version: 2, kind: 'latency', since: '2025-01-01T00:05:00.000Z', limit: 1000 });
    expect(got.map((e) => e.payload.ms)).toEqual(expected.map((e) => e.payload.ms));
    const first = await store.listTelemetry({ app: 'digits', limit: 10 });
    const next = await store.listTelemetry({ app: 'digits', limit: 10, afterId: first[9].id });
    expect(next[0].payload.ms).toBe(10);
    expect(await store.listTelemetry({ app: 'none' })).toEqual([]);
    await expect(store.appendTelemetry([{ deviceId: 'd', app: 'digits', kind: 'x', payload: {}, at: 'yesterday' }])).rejects.toMatchObject({ code: 'invalid' });
  });
});

describe('transactions', () => {
  it('commits all or nothing, and refuses calls to the outer store inside', async () => {
    store = await openSqliteStore({ dataDir });
    await expect(store.transaction(async (tx) => {
      await tx.setSetting('a', 1);
      await tx.createModelVersion(modelInput());
      throw new Error('abort');
    })).rejects.toThrow('abort');
    expect(await store.getSetting('a')).toBeNull();
    expect(await store.latestModelVersion('digits')).toBeNull();

    const s = store;
    const result = await s.transaction(async (tx) => {
      const v = await tx.createModelVersion(modelInput());
      await tx.appendAudit({ actor: 'system', action: 'model.push', target: `digits@${v.version}` });
      const err = await s.getSetting('a').then(() => null, (e: unknown) => e);
      return { v, err };
    });
    expect(result.v.version).toBe(1);
    expect(result.err).toMatchObject({ code: 'invalid' });
    expect((await store.listAudit()).length).toBe(1);
  });

  it('does not interleave concurrent transactions', async () => {
    store = await openSqliteStore({ dataDir });
    await store.setSetting('counter', 0);
    const s = store;
    // Read-modify-write with an await in between: lost updates if transactions interleaved.
    await Promise.all(Array.from({ length: 25 }, () => s.transaction(async (tx) => {
      const n = (await tx.getSetting('counter')) as number;
      await new Promise((r) => setTimeout(r, 1));
      await tx.setSetting('counter', n + 1);
    })));
    expect(await store.getSetting('counter')).toBe(25);
  });

  it('throws on use after close', async () => {
    const s = await openSqliteStore({ dataDir });
    await s.close();
    await expect(s.getSetting('x')).rejects.toMatchObject({ code: 'invalid' });
  });
});
