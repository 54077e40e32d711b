/**
 * Blobs in PostgreSQL `bytea`, for several coordinator processes that share
 * one database and no folder. Content-addressed like the folder store: the
 * row key is the sha256, so a put is `insert ... on conflict do nothing` and
 * two processes storing the same bytes race harmlessly.
 *
 * The column uses STORAGE EXTERNAL: out of line (TOAST) and uncompressed,
 * because update tensors and model shards barely compress and EXTERNAL lets
 * PostgreSQL read a slice without decompressing the whole value.
 */
import type pg from 'pg';
import { assertBlobHash, sha256Hex } from './blob-store.ts';
import type { BlobStore } from './blob-store.ts';
import { StoreError } from './errors.ts';

export const BLOB_TABLE = 'flock_blobs';

/** Creates the blob table when missing; idempotent, run under the migration lock. */
export async function ensureBlobTable(client: Pick<pg.ClientBase, 'query'>): Promise<void> {
  await client.query(`create table if not exists ${BLOB_TABLE} (
    hash text primary key,
    size integer not null,
    bytes bytea not null,
    created_at timestamptz not null default now()
  )`);
  await client.query(`alter table ${BLOB_TABLE} alter column bytes set storage external`);
}

export interface PostgresBlobStoreOptions {
  /** A pool on a database where `ensureBlobTable` has run. */
  pool: pg.Pool;
  /** Largest blob `put` accepts; 256 MiB by default (bytea itself stops at 1 GiB). */
  maxBytes?: number;
}

async function query<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  what: string,
  text: string,
  values: unknown[],
): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(text, values);
  } catch (e) {
    throw new StoreError('io', `Could not ${what} in PostgreSQL: ${(e as Error).message}`, {}, { cause: e });
  }
}

/**
 * A BlobStore over a `pg` pool.
 *
 * @example
 * ```ts
 * await ensureBlobTable(pool);
 * const blobs = createPostgresBlobStore({ pool });
 * const { hash } = await blobs.put(bytes);
 * ```
 */
export function createPostgresBlobStore(options: PostgresBlobStoreOptions): BlobStore {
  const { pool } = options;
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  return {
    async put(bytes) {
      if (bytes.byteLength > maxBytes) {
        throw new StoreError('too_large', `Blob of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes} bytes.`, {
          size: bytes.byteLength,
          maxBytes,
        });
      }
      const hash = sha256Hex(bytes);
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      await query(
        pool,
        `store blob ${hash}`,
        `insert into ${BLOB_TABLE} (hash, size, bytes) values ($1, $2, $3) on conflict (hash) do nothing`,
        [hash, bytes.byteLength, buf],
      );
      return { hash, size: bytes.byteLength };
    },
    async get(hash) {
      assertBlobHash(hash);
      const r = await query<{ bytes: Buffer }>(
        pool,
        `read blob ${hash}`,
        `select bytes from ${BLOB_TABLE} where hash = $1`,
        [hash],
      );
      const buf = r.rows[0]?.bytes;
      return buf ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : null;
    },
    async has(hash) {
      assertBlobHash(hash);
      const r = await query(pool, `look up blob ${hash}`, `select 1 from ${BLOB_TABLE} where hash = $1`, [hash]);
      return r.rowCount === 1;
    },
    async size(hash) {
      assertBlobHash(hash);
      const r = await query<{ size: number }>(
        pool,
        `size blob ${hash}`,
        `select size from ${BLOB_TABLE} where hash = $1`,
        [hash],
      );
      return r.rows[0]?.size ?? null;
    },
    async delete(hash) {
      assertBlobHash(hash);
      const r = await query(pool, `delete blob ${hash}`, `delete from ${BLOB_TABLE} where hash = $1`, [hash]);
      return r.rowCount === 1;
    },
  };
}
