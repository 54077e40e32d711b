/**
 * The PostgreSQL store, for several coordinator processes sharing one
 * database: the same Kysely operations as SQLite over Kysely's PostgresDialect
 * and a `pg` pool.
 *
 * Concurrency: transactions are real PostgreSQL transactions (READ COMMITTED).
 * The ops never read-then-write without a guard: slot claims, update counts,
 * closing and counters are conditional UPDATEs, which take the row lock and
 * re-check their WHERE after waiting for it; duplicates fall to unique
 * constraints with `on conflict do nothing`. So 50 claims from two processes
 * select exactly `selectionLimit` devices.
 *
 * Migrations: every process migrates on open; a session advisory lock around
 * `migrateToLatest` makes processes that start together run them once (the
 * others wait, then find nothing to do). CREATE TABLE IF NOT EXISTS alone is
 * not enough: two concurrent ones can both fail on the catalog's unique index.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { BlobStore } from './blob-store.ts';
import { StoreError } from './errors.ts';
import { createKyselyStore } from './kysely-store.ts';
import { migrateToLatest } from './migrations.ts';
import { createPostgresBlobStore, ensureBlobTable } from './postgres-blob-store.ts';
import type { Database } from './schema.ts';
import type { Store } from './store.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/db` (libpq-style parameters such as `?sslmode=require` work). */
  connectionString: string;
  /** Connections this process may open; 10 by default. Budget: poolSize x processes < max_connections. */
  poolSize?: number;
  /** 'bytea' (default): blobs in the same database. Or any BlobStore, e.g. a shared folder. */
  blobs?: 'bytea' | BlobStore;
  /** Largest blob accepted by the bytea store; 256 MiB by default. */
  maxBlobBytes?: number;
  /** Shown in pg_stat_activity; 'flock' by default. */
  applicationName?: string;
  /** Clock for stored timestamps (tests). */
  now?: () => Date;
}

/** The advisory lock key that serializes migrations ('flock' in ASCII). */
export const MIGRATION_LOCK_KEY = 0x666c6f636bn;

/** Hides the password in a connection string for error messages and logs. */
export function redactConnectionString(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');
}

async function migrateOnce(options: PostgresStoreOptions, db: Kysely<Database>, pool: pg.Pool): Promise<void> {
  // A dedicated session holds the lock, so the migrator may use any pool connection (even with poolSize 1).
  const lock = new pg.Client({
    connectionString: options.connectionString,
    application_name: `${options.applicationName ?? 'flock'}-migrate`,
  });
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    try {
      await migrateToLatest(db, 'postgres');
      await ensureBlobTable(pool);
    } finally {
      await lock.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]);
    }
  } finally {
    await lock.end();
  }
}

/**
 * Opens the PostgreSQL store, migrating the schema on first use.
 *
 * @example
 * ```ts
 * const store = await openPostgresStore({ connectionString: process.env.FLOCK_DATABASE_URL!, poolSize: 10 });
 * const round = await store.getRound(id);
 * await store.close();
 * ```
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const poolSize = options.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1)
    throw new StoreError('invalid', `poolSize must be a positive integer, got ${poolSize}.`);
  const where = redactConnectionString(options.connectionString);
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: poolSize,
    application_name: options.applicationName ?? 'flock',
    connectionTimeoutMillis: 30_000,
  });
  // An idle client can lose its server (restart, failover); the next query reconnects, so do not crash the process.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateOnce(options, db, pool);
    const blobs =
      options.blobs === undefined || options.blobs === 'bytea'
        ? createPostgresBlobStore({ pool, maxBytes: options.maxBlobBytes })
        : options.blobs;
    return createKyselyStore(db, { kind: 'postgres', blobs, now: options.now });
  } catch (e) {
    await db.destroy().catch(() => undefined);
    if (e instanceof StoreError) throw e;
    throw new StoreError(
      'io',
      `Could not open the PostgreSQL store at ${where}: ${(e as Error).message}. Check that the server is up and the URL, user and database are right.`,
      { url: where },
      { cause: e },
    );
  }
}
