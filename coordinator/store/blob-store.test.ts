/**
 * Blob stores: the shared BlobStore contract run on the folder store and on
 * PostgreSQL bytea (skipped, with the reason printed, without
 * FLOCK_TEST_DATABASE_URL), plus what only the folder store promises: the
 * git-style layout on disk and crash-safe temp files. The S3 store runs the
 * same contract in s3-blob-store.test.ts.
 */
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../../test/pg/test-database.ts';
import { describeBlobStoreContract } from './blob-store-contract.fixture.ts';
import { openFolderBlobStore, sha256Hex } from './blob-store.ts';
import { BLOB_TABLE, createPostgresBlobStore, ensureBlobTable } from './postgres-blob-store.ts';

describeBlobStoreContract('folder', async ({ maxBytes }) => {
  const root = await mkdtemp(join(tmpdir(), 'flock-blobs-'));
  return {
    blobs: await openFolderBlobStore({ dir: root, maxBytes }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe.skipIf(skipWithoutPostgres('PostgreSQL bytea blob contract'))('PostgreSQL bytea blobs', () => {
  // One database for the suite; each contract test starts from an empty table.
  let db: TestDatabase | undefined;
  let pool: pg.Pool | undefined;
  beforeAll(async () => {
    db = await createTestDatabase('blobs');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await ensureBlobTable(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  describeBlobStoreContract('postgres bytea', async ({ maxBytes }) => ({
    blobs: createPostgresBlobStore({ pool: pool!, maxBytes }),
    cleanup: async () => void (await pool!.query(`truncate ${BLOB_TABLE}`)),
  }));
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flock-blobs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytes = (s: string) => new TextEncoder().encode(s);

describe('folder blob store', () => {
  it('lays blobs out git-style as ab/cdef...', async () => {
    const blobs = await openFolderBlobStore({ dir });
    const { hash, size } = await blobs.put(bytes('hello flock'));
    expect((await stat(join(dir, hash.slice(0, 2), hash.slice(2)))).size).toBe(size);
  });

  it('stores the same bytes twice as one file, different bytes apart, and leaves no temps', async () => {
    const blobs = await openFolderBlobStore({ dir });
    await blobs.put(bytes('same'));
    await blobs.put(bytes('same'));
    await blobs.put(bytes('other'));
    const shards = (await readdir(dir)).filter((n) => n !== 'tmp');
    const files = (await Promise.all(shards.map((s) => readdir(join(dir, s))))).flat();
    expect(files).toHaveLength(2);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('never exposes a partially written temp file as a blob, and sweeps stale temps on open', async () => {
    const blobs = await openFolderBlobStore({ dir });
    const full = bytes('the complete content of an update');
    const hash = sha256Hex(full);
    // What a crash mid-put leaves behind: a truncated temp file named after the hash.
    const tmp = join(dir, 'tmp', `${hash}.deadbeef.tmp`);
    await writeFile(tmp, full.subarray(0, 7));
    expect(await blobs.has(hash)).toBe(false);
    expect(await blobs.get(hash)).toBeNull();
    // A later put of the same content still lands complete.
    await blobs.put(full);
    expect(Buffer.from((await blobs.get(hash))!).equals(Buffer.from(full))).toBe(true);
    // Old leftovers are removed when the store is opened again; fresh ones are left alone.
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(tmp, old, old);
    const fresh = join(dir, 'tmp', 'in-progress.tmp');
    await writeFile(fresh, 'x');
    await openFolderBlobStore({ dir });
    expect((await readdir(join(dir, 'tmp'))).sort()).toEqual(['in-progress.tmp']);
  });

  it('leaves no temp files after concurrent puts of the same bytes', async () => {
    const blobs = await openFolderBlobStore({ dir });
    const data = new Uint8Array(50_000).fill(7);
    const results = await Promise.all(Array.from({ length: 20 }, () => blobs.put(data)));
    expect(new Set(results.map((r) => r.hash)).size).toBe(1);
    expect((await blobs.get(results[0].hash))!.byteLength).toBe(50_000);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });
});
