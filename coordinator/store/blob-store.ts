/**
 * Content-addressed blob storage (model shards, uploaded updates, optimizer
 * state). The folder implementation lays blobs out git-style as
 * `<dir>/ab/cdef...` (sha256 hex) and makes each put crash-safe: write a temp
 * file, fsync it, rename it into place, fsync the directory. A crash leaves at
 * worst a stray temp file, never a truncated blob under a valid hash. Folders
 * are 0700 and blobs 0600: they hold raw device updates.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from './errors.ts';

/** Where bytes live, by their sha256. */
export interface BlobStore {
  /** Stores the bytes (a no-op when already present) and returns their sha256 hex and size. */
  put(bytes: Uint8Array): Promise<{ hash: string; size: number }>;
  get(hash: string): Promise<Uint8Array | null>;
  has(hash: string): Promise<boolean>;
  /** Size in bytes, or null when absent. */
  size(hash: string): Promise<number | null>;
  /** Returns false when the blob was absent. */
  delete(hash: string): Promise<boolean>;
}

export interface FolderBlobStoreOptions {
  dir: string;
  /** Largest blob `put` accepts; 256 MiB by default. */
  maxBytes?: number;
}

const HASH_RE = /^[0-9a-f]{64}$/;
const TMP_DIR = 'tmp';
/** Temp files older than this are leftovers of a crash and removed on open. */
const STALE_TMP_MS = 60 * 60 * 1000;

/** sha256 hex of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Throws StoreError('invalid') unless `hash` is 64 lowercase hex characters. */
export function assertBlobHash(hash: string): void {
  if (typeof hash !== 'string' || !HASH_RE.test(hash)) {
    throw new StoreError(
      'invalid',
      `Blob hash must be 64 lowercase hex characters (sha256), got ${JSON.stringify(String(hash).slice(0, 80))}.`,
      { hash: String(hash).slice(0, 80) },
    );
  }
}

/**
 * Opens (creating if needed) a folder of content-addressed blobs.
 *
 * @example
 * ```ts
 * const blobs = await openFolderBlobStore({ dir: './.flock/blobs' });
 * const { hash } = await blobs.put(new TextEncoder().encode('hi'));
 * const bytes = await blobs.get(hash);
 * ```
 */
export async function openFolderBlobStore(options: FolderBlobStoreOptions): Promise<BlobStore> {
  const root = options.dir;
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  const tmpDir = join(root, TMP_DIR);
  await ioStep('create the blob folder', async () => {
    await mkdir(tmpDir, { recursive: true, mode: 0o700 });
    await chmod(root, 0o700);
  });
  await removeStaleTemps(tmpDir);

  const pathOf = (hash: string): string => {
    assertBlobHash(hash);
    return join(root, hash.slice(0, 2), hash.slice(2));
  };

  return {
    async put(bytes) {
      if (bytes.byteLength > maxBytes) {
        throw new StoreError('too_large', `Blob of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes} bytes.`, {
          size: bytes.byteLength,
          maxBytes,
        });
      }
      const hash = sha256Hex(bytes);
      const target = pathOf(hash);
      if (await exists(target)) return { hash, size: bytes.byteLength };
      const shardDir = join(root, hash.slice(0, 2));
      const tmp = join(tmpDir, `${hash}.${randomBytes(6).toString('hex')}.tmp`);
      await ioStep(`write blob ${hash}`, async () => {
        const created = await mkdir(shardDir, { recursive: true, mode: 0o700 });
        const fh = await open(tmp, 'wx', 0o600);
        try {
          await fh.writeFile(bytes);
          await fh.sync();
        } finally {
          await fh.close();
        }
        try {
          await rename(tmp, target);
        } catch (e) {
          await unlink(tmp).catch(() => undefined);
          throw e;
        }
        await fsyncDir(shardDir);
        if (created !== undefined) await fsyncDir(root);
      });
      return { hash, size: bytes.byteLength };
    },
    async get(hash) {
      const path = pathOf(hash);
      try {
        const buf = await readFile(path);
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      } catch (e) {
        if (isNotFound(e)) return null;
        throw new StoreError('io', `Could not read blob ${hash}: ${(e as Error).message}`, { hash }, { cause: e });
      }
    },
    async has(hash) {
      return exists(pathOf(hash));
    },
    async size(hash) {
      const path = pathOf(hash);
      try {
        return (await stat(path)).size;
      } catch (e) {
        if (isNotFound(e)) return null;
        throw new StoreError('io', `Could not stat blob ${hash}: ${(e as Error).message}`, { hash }, { cause: e });
      }
    },
    async delete(hash) {
      const path = pathOf(hash);
      try {
        await unlink(path);
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        throw new StoreError('io', `Could not delete blob ${hash}: ${(e as Error).message}`, { hash }, { cause: e });
      }
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw new StoreError('io', `Could not stat ${path}: ${(e as Error).message}`, {}, { cause: e });
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function removeStaleTemps(tmpDir: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(tmpDir)) {
    const path = join(tmpDir, name);
    const info = await stat(path).catch(() => null);
    if (info && now - info.mtimeMs > STALE_TMP_MS) await rm(path, { force: true });
  }
}

async function ioStep<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw new StoreError(
      'io',
      `Could not ${what}: ${(e as Error).message}. Check the data directory's permissions and free space.`,
      {},
      { cause: e },
    );
  }
}

function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: string }).code === 'ENOENT';
}
