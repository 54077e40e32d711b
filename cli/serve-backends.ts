/**
 * What `flock serve` runs on, from its flags: `--store` and `--blobs` mapped
 * onto the coordinator's `openSqliteBackend` / `openPostgresBackend`, with
 * their mistakes reported as usage errors (exit 2) naming the flag.
 */
import { resolve } from 'node:path';
import {
  openPostgresBackend,
  openSqliteBackend,
  parseBlobLocation,
  type BlobLocation,
  type CoordinatorBackend,
} from '../coordinator/backends.ts';
import type { Logger } from '../coordinator/observability/logger.ts';
import { isStoreError } from '../coordinator/store/errors.ts';
import { parseIntegerFlag, UsageError } from './usage-error.ts';

export interface ServeBackendFlags {
  data: string;
  /** True when --data (or FLOCK_DATA) was given, not defaulted. */
  dataGiven: boolean;
  store?: string;
  poolSize: string;
  blobs?: string;
}

export type ServeBackends = CoordinatorBackend;

function asUsage(flag: string, error: unknown): never {
  if (isStoreError(error) && error.code === 'invalid') throw new UsageError(`${flag}: ${error.message}`);
  throw error;
}

/**
 * @example
 * const backends = await openServeBackends({ data: './.flock', dataGiven: false, poolSize: '10' }, log);
 * const flock = await createCoordinator({ dataDir: './.flock', ...backends });
 */
export async function openServeBackends(flags: ServeBackendFlags, log: Logger): Promise<ServeBackends> {
  const url = flags.store?.trim();
  let blobs: BlobLocation | undefined;
  try {
    blobs = flags.blobs?.trim() ? parseBlobLocation(flags.blobs) : undefined;
  } catch (error) {
    asUsage('--blobs', error);
  }
  if (!url) {
    if (blobs === 'bytea')
      throw new UsageError('--blobs bytea needs --store postgres://... (bytea is a PostgreSQL table)');
    return openSqliteBackend({ dataDir: flags.data, blobs }).catch((error: unknown) => asUsage('--blobs', error));
  }
  const poolSize = parseIntegerFlag('--pool-size', flags.poolSize, 1);
  // --data given with PostgreSQL means "blobs in that (shared) folder" unless --blobs says otherwise.
  const where = blobs ?? (flags.dataGiven ? 'folder' : 'bytea');
  return openPostgresBackend({
    connectionString: url,
    poolSize,
    blobs: where,
    dataDir: resolve(flags.data),
    log,
  }).catch((error: unknown) =>
    asUsage(isStoreError(error) && error.details.field === 'connectionString' ? '--store' : '--blobs', error),
  );
}
