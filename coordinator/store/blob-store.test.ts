import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFolderBlobStore, sha256Hex } from './blob-store.ts';
import { StoreError } from './errors.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flock-blobs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytes = (s: string) => new TextEncoder().encode(s);

describe('folder blob store', () => {
  it('puts, gets, sizes and deletes by sha256', async () => {
    const blobs = await openFolderBlobStore({ dir });
    const data = bytes('hello flock');
    const { hash, size } = await blobs.put(data);
    expect(hash).toBe(sha256Hex(data));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(size).toBe(data.byteLength);
    expect(await blobs.has(hash)).toBe(true);
    expect(await blobs.size(hash)).toBe(data.byteLength);
    expect(Buffer.from((await blobs.get(hash))!).toString()).toBe('hello flock');
    // git-style layout: ab/cdef...
    expect((await stat(join(dir, hash.slice(0, 2), hash.slice(2)))).size).toBe(size);
    expect(await blobs.delete(hash)).toBe(true);
    expect(await blobs.delete(hash)).toBe(false);
    expect(await blobs.get(hash)).toBeNull();
    expect(await blobs.has(hash)).toBe(false);
    expect(await blobs.size(hash)).toBeNull();
  });

  it('is content-addressed: the same bytes twice are stored once, different bytes apart', async () => {
    const blobs = await openFolderBlobStore({ dir });
    const a = await blobs.put(bytes('same'));
    const b = await blobs.put(bytes('same'));
    const c = await blobs.put(bytes('other'));
    expect(b).toEqual(a);
    expect(c.hash).not.toBe(a.hash);
    const shards = (await readdir(dir)).filter((n) => n !== 'tmp');
    const files = (await Promise.all(shards.map((s) => readdir(join(dir, s))))).flat();
    expect(files).toHaveLength(2);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('stores empty and binary blobs exactly', async () => {
    const blobs = await openFolderBlobStore({ dir });
    const empty = await blobs.put(new Uint8Array(0));
    expect(empty.hash).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect((await blobs.get(empty.hash))!.byteLength).toBe(0);
    const bin = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
    const { hash } = await blobs.put(bin);
    expect(Array.from((await blobs.get(hash))!)).toEqual(Array.from(bin));
  });

  it('rejects malformed hashes, including path traversal, with StoreError(invalid)', async () => {
    const blobs = await openFolderBlobStore({ dir });
    const bad = ['../../etc/passwd', '..', '', 'ABCDEF'.padEnd(64, '0'), 'a'.repeat(63), 'a'.repeat(65),
      `${'a'.repeat(62)}/.`, `..${'a'.repeat(62)}`, 'g'.repeat(64)];
    for (const hash of bad) {
      for (const op of [() => blobs.get(hash), () => blobs.has(hash), () => blobs.size(hash), () => blobs.delete(hash)]) {
        const err = await op().then(() => null, (e: unknown) => e);
        expect(err, `hash ${JSON.stringify(hash)}`).toBeInstanceOf(StoreError);
        expect((err as StoreError).code).toBe('invalid');
      }
    }
  });

  it('refuses blobs over maxBytes with StoreError(too_large) and writes nothing', async () => {
    const blobs = await openFolderBlobStore({ dir, maxBytes: 10 });
    await expect(blobs.put(new Uint8Array(11))).rejects.toMatchObject({ code: 'too_large' });
    expect(await blobs.has(sha256Hex(new Uint8Array(11)))).toBe(false);
    await expect(blobs.put(new Uint8Array(10))).resolves.toMatchObject({ size: 10 });
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

  it('survives concurrent puts of the same bytes', async () => {
    const blobs = await openFolderBlobStore({ dir });
    const data = new Uint8Array(50_000).fill(7);
    const results = await Promise.all(Array.from({ length: 20 }, () => blobs.put(data)));
    expect(new Set(results.map((r) => r.hash)).size).toBe(1);
    expect((await blobs.get(results[0].hash))!.byteLength).toBe(50_000);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });
});
