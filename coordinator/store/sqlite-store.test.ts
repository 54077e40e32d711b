/**
 * The SQLite store: the shared store contract, plus what only SQLite has
 * (the WAL file, one open per directory per process, serialized transactions).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { flockMigrations } from './migrations.ts';
import { openSqliteStore } from './sqlite-store.ts';
import { describeStoreContract } from './store-contract.fixture.ts';
import type { NewModelVersion, Store } from './store.ts';
import { TaskPlanSchema } from '../../shared/protocol/index.ts';

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
  weightSpecs: [
    { name: 'dense/kernel', shape: [784, 10] },
    { name: 'dense/bias', shape: [10] },
  ],
  inputSpec: { shape: [28, 28, 1], dtype: 'float32' },
  labels: ['0', '1', '2'],
  variants: [
    { encoding: 'fp32', totalBytes: 31400, sha256: 'a'.repeat(64), shards: [{ hash: 'b'.repeat(64), size: 31400 }] },
  ],
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
    const all = Object.keys(await flockMigrations('sqlite').getMigrations());
    expect(applied.map((r) => r.name)).toEqual(all);

    store = await openSqliteStore({ dataDir });
    expect(await store.getSetting('coordinator.keys')).toEqual({ publicKey: 'pk', secretKey: 'sk' });
    expect(await store.getModelVersion('digits', 1)).toEqual(v1);
    expect(await store.blobs.has(hash)).toBe(true);
    const raw2 = new BetterSqlite3(join(dataDir, 'flock.db'), { readonly: true });
    expect((raw2.prepare('select count(*) n from kysely_migration').get() as { n: number }).n).toBe(all.length);
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
    await expect(
      store.createTask({
        app: 'digits',
        name: 't',
        modelVersion: 9,
        plan: TaskPlanSchema.parse({ population: 10 }),
        budget: { epsilon: 1, delta: 1e-5 },
      }),
    ).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('transactions (SQLite)', () => {
  // SQLite runs one transaction at a time; PostgreSQL's READ COMMITTED does not
  // promise this, and the ops do not rely on it (they use guarded UPDATEs).
  it('does not interleave concurrent transactions', async () => {
    store = await openSqliteStore({ dataDir });
    await store.setSetting('counter', 0);
    const s = store;
    // Read-modify-write with an await in between: lost updates if transactions interleaved.
    await Promise.all(
      Array.from({ length: 25 }, () =>
        s.transaction(async (tx) => {
          const n = (await tx.getSetting('counter')) as number;
          await new Promise((r) => setTimeout(r, 1));
          await tx.setSetting('counter', n + 1);
        }),
      ),
    );
    expect(await store.getSetting('counter')).toBe(25);
  });
});

describeStoreContract('sqlite', async (options) => {
  const dir = await mkdtemp(join(tmpdir(), 'flock-contract-'));
  return {
    store: await openSqliteStore({ dataDir: dir, ...options }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
