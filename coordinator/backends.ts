/**
 * What a coordinator runs on, opened by one call each: the embedded default
 * (SQLite and a blob folder in a data folder) or PostgreSQL shared by several
 * processes, with what sharing needs (manifest change fan-out and round flush
 * requests over LISTEN/NOTIFY, rate limits counted in the database). Blobs go
 * to a folder, PostgreSQL `bytea` or S3-compatible storage (`s3://bucket/prefix`).
 *
 * `flock serve` builds these from its flags; a program embedding the
 * coordinator calls them directly and spreads the result into
 * `createCoordinator`.
 *
 * @example
 * const backend = await openPostgresBackend({ connectionString: process.env.FLOCK_DATABASE_URL!, log });
 * const flock = await createCoordinator({ dataDir: './.flock', ...backend });
 * // ... later
 * await flock.close();
 * await backend.close();
 */
import { join, resolve } from 'node:path';
import type { Logger } from './observability/logger.ts';
import { openPostgresRateLimitStore, type RateLimitStore } from './http/rate-limit-store.ts';
import { openPostgresManifestEvents, type ManifestEvents } from './rollouts/index.ts';
import { openPostgresRoundSignals } from './rounds/postgres-round-signals.ts';
import type { RoundSignals } from './rounds/round-signals.ts';
import { openFolderBlobStore, type BlobStore } from './store/blob-store.ts';
import { StoreError } from './store/errors.ts';
import { openPostgresStore, redactConnectionString } from './store/postgres-store.ts';
import { openSqliteStore } from './store/sqlite-store.ts';
import type { Store } from './store/store.ts';

/** Where blobs live: a folder under the data folder, PostgreSQL `bytea`, or `s3://bucket/prefix`. */
export type BlobLocation = 'folder' | 'bytea' | `s3://${string}`;

/** What `createCoordinator` takes from an opened backend (spread it in), plus how to close it. */
export interface CoordinatorBackend {
  /** Undefined: createCoordinator opens SQLite in its dataDir itself. */
  store?: Store;
  events?: ManifestEvents;
  rateLimitStore?: RateLimitStore;
  roundSignals?: RoundSignals;
  /** For a start-up banner, e.g. "postgres postgres://flock:***@db/flock, blobs in s3://models/flock". */
  description: string;
  /** Closes what was opened here; call it after the coordinator closed. */
  close(): Promise<void>;
}

/**
 * Reads a blob location from text (a flag or an environment variable).
 * @throws StoreError 'invalid' naming what is allowed
 */
export function parseBlobLocation(raw: string): BlobLocation {
  const value = raw.trim();
  if (value === 'folder' || value === 'bytea') return value;
  if (value.startsWith('s3://')) return value as `s3://${string}`;
  throw new StoreError('invalid', `blobs must be folder, bytea or s3://bucket/prefix, got ${JSON.stringify(value)}`);
}

async function openBlobs(
  dataDir: string,
  where: 'folder' | `s3://${string}`,
): Promise<{ blobs: BlobStore & { close?(): void }; where: string }> {
  if (where === 'folder') {
    const dir = join(resolve(dataDir), 'blobs');
    return { blobs: await openFolderBlobStore({ dir }), where: dir };
  }
  // Loaded only when asked for: the AWS SDK is large and most deployments never touch it.
  const { openS3BlobStoreFromUrl } = await import('./store/s3-blob-store.ts');
  const s3 = await openS3BlobStoreFromUrl(where, process.env);
  return { blobs: s3, where: `s3://${s3.bucket}/${s3.prefix}` };
}

export interface SqliteBackendOptions {
  /** The data folder: flock.db and (by default) blobs/ in it. */
  dataDir: string;
  /** Default 'folder' (dataDir/blobs). 'bytea' is a PostgreSQL table and is refused here. */
  blobs?: BlobLocation;
}

/**
 * The embedded default: SQLite in `dataDir`, blobs beside it or in S3.
 * @throws StoreError 'invalid' for `blobs: 'bytea'`
 */
export async function openSqliteBackend(options: SqliteBackendOptions): Promise<CoordinatorBackend> {
  const dataDir = resolve(options.dataDir);
  const blobs = options.blobs ?? 'folder';
  if (blobs === 'bytea')
    throw new StoreError('invalid', 'blobs bytea needs a PostgreSQL store (bytea is a PostgreSQL table)');
  if (blobs === 'folder') return { description: `data dir: ${dataDir}`, close: async () => undefined };
  const opened = await openBlobs(dataDir, blobs);
  const store = await openSqliteStore({ dataDir, blobs: opened.blobs });
  return {
    store,
    description: `data dir: ${dataDir}, blobs in ${opened.where}`,
    close: async () => opened.blobs.close?.(),
  };
}

export interface PostgresBackendOptions {
  /** postgres://user:password@host:port/database */
  connectionString: string;
  /** Store connections per process (default 10); each process also holds 4 more (see README). */
  poolSize?: number;
  /** Default 'bytea' (a table in the same database). 'folder' needs `dataDir`, one folder shared by every process. */
  blobs?: BlobLocation;
  dataDir?: string;
  log: Logger;
}

/**
 * PostgreSQL shared by several coordinator processes: the store, manifest
 * events and round signals over LISTEN/NOTIFY, and rate limits in the database.
 * @throws StoreError 'invalid' for a URL that is not postgres:// or folder blobs without a dataDir
 */
export async function openPostgresBackend(options: PostgresBackendOptions): Promise<CoordinatorBackend> {
  const url = options.connectionString.trim();
  const { log } = options;
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new StoreError(
      'invalid',
      `the store must be a postgres:// URL, got ${JSON.stringify(redactConnectionString(url))}`,
      { field: 'connectionString' },
    );
  const blobChoice = options.blobs ?? 'bytea';
  if (blobChoice === 'folder' && options.dataDir === undefined)
    throw new StoreError('invalid', 'folder blobs need a dataDir (one folder shared by every process)');
  const opened = blobChoice === 'bytea' ? null : await openBlobs(options.dataDir ?? '.', blobChoice);
  const closers: (() => Promise<void> | void)[] = [];
  if (opened?.blobs.close) closers.push(() => opened.blobs.close!());
  const closeAll = async () => {
    for (const close of closers.reverse())
      await Promise.resolve(close()).catch((err: unknown) => log.warn({ err }, 'closing a backend failed'));
  };
  let store: Store | undefined;
  try {
    store = await openPostgresStore({
      connectionString: url,
      poolSize: options.poolSize ?? 10,
      blobs: opened?.blobs ?? 'bytea',
    });
    const events = await openPostgresManifestEvents({ connectionString: url, log });
    closers.push(() => events.close());
    const rateLimitStore = await openPostgresRateLimitStore({ connectionString: url, log });
    closers.push(() => rateLimitStore.close());
    const roundSignals = await openPostgresRoundSignals({
      connectionString: url,
      onError: (err) => log.warn({ err }, 'round signals'),
    });
    closers.push(() => roundSignals.close());
    return {
      store,
      events,
      rateLimitStore,
      roundSignals,
      description: `store:    postgres ${redactConnectionString(url)}, blobs in ${opened?.where ?? 'bytea'}`,
      close: closeAll,
    };
  } catch (error) {
    await store?.close();
    await closeAll();
    throw error;
  }
}
