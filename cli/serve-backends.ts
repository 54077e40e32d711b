/**
 * What `flock serve` runs on, from its flags: the embedded default (SQLite and
 * a blob folder in --data), or PostgreSQL shared by several processes with
 * what sharing needs: manifest change fan-out and round flush requests over
 * LISTEN/NOTIFY, and rate limits counted in the database. Blobs go to the folder, PostgreSQL `bytea`
 * or S3-compatible storage (`--blobs s3://bucket/prefix`).
 */
import { join, resolve } from 'node:path';
import type { Logger } from '../coordinator/observability/logger.ts';
import { openPostgresRateLimitStore, type RateLimitStore } from '../coordinator/http/rate-limit-store.ts';
import { openPostgresManifestEvents, type ManifestEvents } from '../coordinator/rollouts/index.ts';
import { openPostgresRoundSignals } from '../coordinator/rounds/postgres-round-signals.ts';
import type { RoundSignals } from '../coordinator/rounds/round-signals.ts';
import { openFolderBlobStore, type BlobStore } from '../coordinator/store/blob-store.ts';
import { isStoreError } from '../coordinator/store/errors.ts';
import { openPostgresStore, redactConnectionString } from '../coordinator/store/postgres-store.ts';
import { openSqliteStore } from '../coordinator/store/sqlite-store.ts';
import type { Store } from '../coordinator/store/store.ts';
import { parseIntegerFlag, UsageError } from './usage-error.ts';

export interface ServeBackendFlags {
  data: string;
  /** True when --data (or FLOCK_DATA) was given, not defaulted. */
  dataGiven: boolean;
  store?: string;
  poolSize: string;
  blobs?: string;
}

export interface ServeBackends {
  /** Undefined: createCoordinator opens SQLite in --data itself. */
  store?: Store;
  events?: ManifestEvents;
  rateLimitStore?: RateLimitStore;
  roundSignals?: RoundSignals;
  /** For the start-up banner, e.g. "postgres postgres://flock:***@db/flock, blobs in s3://models/flock". */
  description: string;
  /** Closes what was opened here, after the coordinator closed the store. */
  close(): Promise<void>;
}

/** The --blobs choice: 's3://...', 'bytea', 'folder', or undefined for the default. */
function blobsChoice(raw: string | undefined, postgres: boolean): 's3' | 'bytea' | 'folder' | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  if (value.startsWith('s3://')) return 's3';
  if (value === 'bytea') {
    if (!postgres) throw new UsageError('--blobs bytea needs --store postgres://... (bytea is a PostgreSQL table)');
    return 'bytea';
  }
  if (value === 'folder') return 'folder';
  throw new UsageError(`--blobs must be folder, bytea or s3://bucket/prefix, got ${JSON.stringify(value)}`);
}

async function openBlobs(flags: ServeBackendFlags, choice: 's3' | 'folder'): Promise<{ blobs: BlobStore & { close?(): void }; where: string }> {
  if (choice === 'folder') {
    const dir = join(resolve(flags.data), 'blobs');
    return { blobs: await openFolderBlobStore({ dir }), where: dir };
  }
  try {
    // Loaded only when asked for: the AWS SDK is large and most deployments never touch it.
    const { openS3BlobStoreFromUrl } = await import('../coordinator/store/s3-blob-store.ts');
    const s3 = await openS3BlobStoreFromUrl(flags.blobs!.trim(), process.env);
    return { blobs: s3, where: `s3://${s3.bucket}/${s3.prefix}` };
  } catch (error) {
    // A malformed URL is a usage mistake; a missing bucket or an unreachable endpoint is a failed start.
    if (isStoreError(error) && error.code === 'invalid') throw new UsageError(`--blobs: ${error.message}`);
    throw error;
  }
}

/**
 * @example
 * const backends = await openServeBackends({ data: './.flock', dataGiven: false, poolSize: '10' }, log);
 * const flock = await createCoordinator({ dataDir: './.flock', ...backends });
 */
export async function openServeBackends(flags: ServeBackendFlags, log: Logger): Promise<ServeBackends> {
  const url = flags.store?.trim();
  const postgres = Boolean(url);
  const choice = blobsChoice(flags.blobs, postgres);
  if (!url) {
    if (choice !== 's3') return { description: `data dir: ${resolve(flags.data)}`, close: async () => undefined };
    const { blobs, where } = await openBlobs(flags, 's3');
    const store = await openSqliteStore({ dataDir: resolve(flags.data), blobs });
    return { store, description: `data dir: ${resolve(flags.data)}, blobs in ${where}`, close: async () => blobs.close?.() };
  }
  if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError(`--store must be a postgres:// URL, got ${JSON.stringify(redactConnectionString(url))}`);
  const poolSize = parseIntegerFlag('--pool-size', flags.poolSize, 1);
  const blobChoice = choice ?? (flags.dataGiven ? 'folder' : 'bytea');
  const opened = blobChoice === 'bytea' ? null : await openBlobs(flags, blobChoice);
  const closers: (() => Promise<void> | void)[] = [];
  if (opened?.blobs.close) closers.push(() => opened.blobs.close!());
  const closeAll = async () => {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch((err: unknown) => log.warn({ err }, 'closing a backend failed'));
  };
  let store: Store | undefined;
  try {
    store = await openPostgresStore({ connectionString: url, poolSize, blobs: opened?.blobs ?? 'bytea' });
    const events = await openPostgresManifestEvents({ connectionString: url, log });
    closers.push(() => events.close());
    const rateLimitStore = await openPostgresRateLimitStore({ connectionString: url, log });
    closers.push(() => rateLimitStore.close());
    const roundSignals = await openPostgresRoundSignals({ connectionString: url, onError: (err) => log.warn({ err }, 'round signals') });
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
