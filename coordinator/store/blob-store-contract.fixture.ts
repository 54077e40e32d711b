/**
 * The blob store contract: what every `BlobStore` (folder, PostgreSQL bytea,
 * S3) must do, run by each backend's test. Only what the interface promises is
 * here; layouts on disk, tables and buckets stay in each backend's own test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from './blob-store.ts';
import type { BlobStore } from './blob-store.ts';
import { StoreError } from './errors.ts';

export interface BlobStoreUnderTest {
  blobs: BlobStore;
  /** Removes what the store wrote and releases its connections. */
  cleanup(): Promise<void>;
}

/** Opens a fresh, empty blob store. */
export type OpenBlobStore = (options: { maxBytes?: number }) => Promise<BlobStoreUnderTest>;

const text = (s: string) => new TextEncoder().encode(s);
const same = (a: Uint8Array | null, b: Uint8Array) => a !== null && Buffer.from(a).equals(Buffer.from(b));

/**
 * Declares the contract suite for one blob store implementation.
 *
 * @example
 * ```ts
 * describeBlobStoreContract('folder', async ({ maxBytes }) => {
 *   const dir = await mkdtemp(join(tmpdir(), 'flock-blobs-'));
 *   return { blobs: await openFolderBlobStore({ dir, maxBytes }), cleanup: () => rm(dir, { recursive: true }) };
 * });
 * ```
 */
export function describeBlobStoreContract(name: string, openBlobStore: OpenBlobStore): void {
  describe(`BlobStore contract: ${name}`, () => {
    const opened: BlobStoreUnderTest[] = [];
    const open = async (options: { maxBytes?: number } = {}): Promise<BlobStore> => {
      const s = await openBlobStore(options);
      opened.push(s);
      return s.blobs;
    };
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.cleanup();
    });

    it('puts, gets, sizes and deletes by sha256', async () => {
      const blobs = await open();
      const data = text('hello flock');
      const { hash, size } = await blobs.put(data);
      expect(hash).toBe(sha256Hex(data));
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
      expect(size).toBe(data.byteLength);
      expect(await blobs.has(hash)).toBe(true);
      expect(await blobs.size(hash)).toBe(data.byteLength);
      expect(Buffer.from((await blobs.get(hash))!).toString()).toBe('hello flock');
      expect(await blobs.delete(hash)).toBe(true);
      expect(await blobs.delete(hash)).toBe(false);
      expect(await blobs.get(hash)).toBeNull();
      expect(await blobs.has(hash)).toBe(false);
      expect(await blobs.size(hash)).toBeNull();
    });

    it('answers absent for a hash never stored', async () => {
      const blobs = await open();
      const hash = sha256Hex(text('never stored'));
      expect(await blobs.get(hash)).toBeNull();
      expect(await blobs.has(hash)).toBe(false);
      expect(await blobs.size(hash)).toBeNull();
      expect(await blobs.delete(hash)).toBe(false);
    });

    it('is content-addressed and idempotent: the same bytes twice are one blob', async () => {
      const blobs = await open();
      const a = await blobs.put(text('same'));
      const b = await blobs.put(text('same'));
      const c = await blobs.put(text('other'));
      expect(b).toEqual(a);
      expect(c.hash).not.toBe(a.hash);
      expect(Buffer.from((await blobs.get(a.hash))!).toString()).toBe('same');
      expect(Buffer.from((await blobs.get(c.hash))!).toString()).toBe('other');
      // One delete removes the one copy.
      expect(await blobs.delete(a.hash)).toBe(true);
      expect(await blobs.has(a.hash)).toBe(false);
      expect(await blobs.has(c.hash)).toBe(true);
    });

    it('stores empty, binary and multi-megabyte blobs exactly', async () => {
      const blobs = await open();
      const empty = await blobs.put(new Uint8Array(0));
      expect(empty).toEqual({ hash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', size: 0 });
      expect((await blobs.get(empty.hash))!.byteLength).toBe(0);
      expect(await blobs.size(empty.hash)).toBe(0);
      const bin = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
      const { hash } = await blobs.put(bin);
      expect(same(await blobs.get(hash), bin)).toBe(true);
      // 5 MiB of varied bytes: larger than any single socket write or TOAST chunk.
      const big = new Uint8Array(5 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
      const put = await blobs.put(big);
      expect(put).toEqual({ hash: sha256Hex(big), size: big.byteLength });
      expect(await blobs.size(put.hash)).toBe(big.byteLength);
      expect(same(await blobs.get(put.hash), big)).toBe(true);
    });

    it('rejects malformed hashes, including path traversal, with StoreError(invalid)', async () => {
      const blobs = await open();
      const bad = [
        '../../etc/passwd',
        '..',
        '',
        'ABCDEF'.padEnd(64, '0'),
        'a'.repeat(63),
        'a'.repeat(65),
        `${'a'.repeat(62)}/.`,
        `..${'a'.repeat(62)}`,
        'g'.repeat(64),
      ];
      for (const hash of bad) {
        for (const op of [
          () => blobs.get(hash),
          () => blobs.has(hash),
          () => blobs.size(hash),
          () => blobs.delete(hash),
        ]) {
          const err = await op().then(
            () => null,
            (e: unknown) => e,
          );
          expect(err, `hash ${JSON.stringify(hash)}`).toBeInstanceOf(StoreError);
          expect((err as StoreError).code).toBe('invalid');
        }
      }
    });

    it('refuses blobs over maxBytes with StoreError(too_large) and stores nothing', async () => {
      const blobs = await open({ maxBytes: 10 });
      await expect(blobs.put(new Uint8Array(11))).rejects.toMatchObject({ code: 'too_large' });
      expect(await blobs.has(sha256Hex(new Uint8Array(11)))).toBe(false);
      await expect(blobs.put(new Uint8Array(10))).resolves.toMatchObject({ size: 10 });
    });

    it('survives concurrent puts of the same bytes', async () => {
      const blobs = await open();
      const data = new Uint8Array(50_000).fill(7);
      const results = await Promise.all(Array.from({ length: 12 }, () => blobs.put(data)));
      expect(new Set(results.map((r) => r.hash)).size).toBe(1);
      expect(same(await blobs.get(results[0].hash), data)).toBe(true);
    });
  });
}
