/**
 * Coordinator state: the `Store` interface, its SQLite implementation, the
 * content-addressed `BlobStore`, and the domain types they exchange.
 *
 * @example
 * ```ts
 * import { openSqliteStore, hashSecret } from './store/index.ts';
 * const store = await openSqliteStore({ dataDir: './.flock' });
 * await store.createDevice({ deviceId, app: 'digits', tokenHash: hashSecret(token) });
 * ```
 */
export type * from './types.ts';
export { MODEL_STAGES, ROUND_STATUSES, TASK_STATUSES } from './types.ts';
export type * from './store.ts';
export type * from './rollout-types.ts';
export { ROLLOUT_STATUSES, LIVE_ROLLOUT_STATUSES } from './rollout-types.ts';
export { StoreError, isStoreError } from './errors.ts';
export type { StoreErrorCode } from './errors.ts';
export { openFolderBlobStore, assertBlobHash, sha256Hex } from './blob-store.ts';
export type { BlobStore, FolderBlobStoreOptions } from './blob-store.ts';
export { openSqliteStore, SQLITE_FILE, BLOB_DIR } from './sqlite-store.ts';
export type { SqliteStoreOptions } from './sqlite-store.ts';
export { createKyselyStore } from './kysely-store.ts';
export type { KyselyStoreOptions } from './kysely-store.ts';
export { flockMigrations, migrateToLatest } from './migrations.ts';
export type { SqlDialectName } from './migrations.ts';
export type { Database } from './schema.ts';
export { hashSecret, digestsEqual } from './identity-ops.ts';
export { openPostgresStore, redactConnectionString } from './postgres-store.ts';
export type { PostgresStoreOptions } from './postgres-store.ts';
