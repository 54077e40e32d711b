/**
 * The PostgreSQL store: the shared store contract, plus what only several
 * processes on one database can break: migrations started together, slot
 * claims, update counts and closing raced from two pools (two "processes"),
 * and the bytea blob table. Skipped, with the reason printed, when
 * FLOCK_TEST_DATABASE_URL is unset.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../../test/pg/test-database.ts';
import { sha256Hex } from './blob-store.ts';
import { hashSecret } from './identity-ops.ts';
import { flockMigrations } from './migrations.ts';
import { BLOB_TABLE } from './postgres-blob-store.ts';
import { openPostgresStore, redactConnectionString } from './postgres-store.ts';
import { describeStoreContract } from './store-contract.fixture.ts';
import type { Store } from './store.ts';
import type { Round } from './types.ts';
import { TaskPlanSchema } from '../../shared/protocol/index.ts';

const skip = skipWithoutPostgres('PostgreSQL store tests');

describe('redactConnectionString', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactConnectionString('postgres://flock:s3cret@db.internal:5432/flock')).toBe(
      'postgres://flock:***@db.internal:5432/flock',
    );
    expect(redactConnectionString('postgres://postgres@127.0.0.1:5432/x')).toBe('postgres://postgres@127.0.0.1:5432/x');
  });
});

describe.skipIf(skip)('PostgreSQL store', () => {
  // One migrated database, copied for each contract test.
  let template: TestDatabase | undefined;
  beforeAll(async () => {
    template = await createTestDatabase('template');
    await (await openPostgresStore({ connectionString: template.url, poolSize: 1 })).close();
  });
  afterAll(async () => {
    await template?.drop();
  });

  describeStoreContract('postgres', async (options) => {
    const db = await createTestDatabase('contract', { template: template!.name });
    return { store: await openPostgresStore({ connectionString: db.url, poolSize: 4, ...options }), cleanup: db.drop };
  });

  let db: TestDatabase | undefined;
  const stores: Store[] = [];
  const open = async (poolSize = 5) => {
    const s = await openPostgresStore({ connectionString: db!.url, poolSize });
    stores.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await db?.drop();
    db = undefined;
  });

  async function seed(s: Store, devices: number, goal: number, selectionLimit: number): Promise<Round> {
    await s.transaction(async (tx) => {
      for (let i = 0; i < devices; i++)
        await tx.createDevice({ deviceId: `d${i}`, app: 'digits', tokenHash: hashSecret(`t${i}`) });
    });
    await s.createModelVersion({
      app: 'digits',
      source: 'push',
      topology: {},
      weightSpecs: [{ name: 'w', shape: [2] }],
      variants: [],
    });
    const task = await s.createTask({
      app: 'digits',
      name: 'mnist',
      modelVersion: 1,
      plan: TaskPlanSchema.parse({ population: 10 }),
      budget: { epsilon: 4, delta: 1e-5 },
    });
    return s.createRound({
      taskId: task.id,
      globalVersion: 1,
      goal,
      selectionLimit,
      deadlineAt: new Date(Date.now() + 60_000).toISOString(),
    });
  }
  const hashOf = (n: number) => n.toString(16).padStart(64, '0');

  it('runs migrations once when four processes open an empty database together', async () => {
    db = await createTestDatabase('migrate');
    const opened = await Promise.all([1, 2, 3, 4].map(() => open(2)));
    expect(opened.every((s) => s.kind === 'postgres')).toBe(true);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const applied = await client.query<{ name: string }>('select name from kysely_migration order by name');
      expect(applied.rows.map((r) => r.name)).toEqual(Object.keys(await flockMigrations('postgres').getMigrations()));
      const storage = await client.query<{ attstorage: string }>(
        `select attstorage from pg_attribute where attrelid = '${BLOB_TABLE}'::regclass and attname = 'bytes'`,
      );
      expect(storage.rows[0].attstorage).toBe('e'); // STORAGE EXTERNAL
    } finally {
      await client.end();
    }
  });

  it('holds the selection limit for 50 parallel claims from two pools', async () => {
    db = await createTestDatabase('claims');
    const [a, b] = [await open(5), await open(5)];
    const round = await seed(a, 50, 10, 13);
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).claimSlot(round.id, `d${i}`)),
    );
    expect(outcomes.filter((o) => o === 'selected')).toHaveLength(13);
    expect(outcomes.filter((o) => o === 'full')).toHaveLength(37);
    expect((await b.getRound(round.id))?.selectedCount).toBe(13);
    expect(await a.listParticipants(round.id)).toHaveLength(13);
    // The same device claiming through both pools at once is counted once.
    const r2 = await a.createRound({
      taskId: round.taskId,
      globalVersion: 1,
      goal: 1,
      selectionLimit: 5,
      deadlineAt: '2030-01-01T00:00:00Z',
    });
    const twice = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claimSlot(r2.id, 'd0')));
    expect(twice.filter((o) => o === 'selected')).toHaveLength(1);
    expect((await a.getRound(r2.id))?.selectedCount).toBe(1);
  });

  it('counts an upload retried through both pools exactly once', async () => {
    db = await createTestDatabase('uploads');
    const [a, b] = [await open(5), await open(5)];
    const round = await seed(a, 4, 4, 4);
    for (let i = 0; i < 4; i++) await a.claimSlot(round.id, `d${i}`);
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        (i % 2 ? a : b).recordUpdate({
          roundId: round.id,
          deviceId: `d${i % 4}`,
          blobHash: hashOf((i % 4) + 1),
          byteLength: 3,
          numExamples: 3,
        }),
      ),
    );
    expect(results.filter((r) => r.outcome === 'accepted')).toHaveLength(4);
    expect(results.filter((r) => r.outcome === 'duplicate')).toHaveLength(20);
    const counts = results.flatMap((r) => (r.outcome === 'accepted' ? [r.reportedCount] : [])).sort();
    expect(counts).toEqual([1, 2, 3, 4]);
    expect((await b.getRound(round.id))?.reportedCount).toBe(4);
    expect(await b.listUpdates(round.id)).toHaveLength(4);
  });

  it('elects one closer across pools, and every accepted upload racing the close is stored', async () => {
    db = await createTestDatabase('closing');
    const [a, b] = [await open(5), await open(5)];
    const round = await seed(a, 30, 30, 30);
    for (let i = 0; i < 30; i++) await a.claimSlot(round.id, `d${i}`);
    const uploads = Array.from({ length: 30 }, (_, i) =>
      (i % 2 ? a : b).recordUpdate({
        roundId: round.id,
        deviceId: `d${i}`,
        blobHash: hashOf(i + 1),
        byteLength: 1,
        numExamples: 1,
      }),
    );
    const votes = await Promise.all(
      [a, b, a, b].map(async (s, i) => {
        await new Promise((r) => setTimeout(r, i));
        return s.beginClosing(round.id);
      }),
    );
    const results = await Promise.all(uploads);
    expect(votes.filter(Boolean)).toHaveLength(1);
    const accepted = results.flatMap((r, i) => (r.outcome === 'accepted' ? [`d${i}`] : [])).sort();
    expect(
      results.every((r) => r.outcome === 'accepted' || (r.outcome === 'round-closed' && r.status === 'closing')),
    ).toBe(true);
    // What the closer reads after winning is exactly what was acknowledged.
    expect((await a.listUpdates(round.id)).map((u) => u.deviceId).sort()).toEqual(accepted);
    expect((await b.getRound(round.id))?.reportedCount).toBe(accepted.length);
  });

  it('allocates version numbers without gaps or repeats from two pools', async () => {
    db = await createTestDatabase('versions');
    const [a, b] = [await open(4), await open(4)];
    const made = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        (i % 2 ? a : b).createModelVersion({
          app: 'digits',
          source: 'push',
          topology: {},
          weightSpecs: [],
          variants: [],
        }),
      ),
    );
    expect(made.map((m) => m.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
  });

  it('keeps blobs in bytea: content-addressed, idempotent under concurrent puts, shared by processes', async () => {
    db = await createTestDatabase('blobs');
    const [a, b] = [await open(3), await open(3)];
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
    const puts = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).blobs.put(bytes)));
    expect(new Set(puts.map((p) => p.hash))).toEqual(new Set([sha256Hex(bytes)]));
    const hash = puts[0].hash;
    expect(await b.blobs.size(hash)).toBe(300_000);
    expect(Buffer.from((await a.blobs.get(hash))!).equals(Buffer.from(bytes))).toBe(true);
    expect(await a.blobs.has(hash)).toBe(true);
    expect(await b.blobs.delete(hash)).toBe(true);
    expect(await a.blobs.delete(hash)).toBe(false);
    expect(await a.blobs.get(hash)).toBeNull();
    expect(await a.blobs.size(hash)).toBeNull();
    await expect(a.blobs.get('../etc/passwd')).rejects.toMatchObject({ code: 'invalid' });
  });

  it('fails to open with a clear error and no leaked pool when the server is unreachable', async () => {
    const err = await openPostgresStore({ connectionString: 'postgres://flock:pw@127.0.0.1:1/none' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'io' });
    expect(String((err as Error).message)).toContain('postgres://flock:***@127.0.0.1:1/none');
  });
});
