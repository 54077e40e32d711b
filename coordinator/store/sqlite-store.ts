/**
 * The embedded default: one SQLite file (`flock.db`, WAL) and a `blobs/`
 * folder under one data directory.
 *
 * Durability: by default an operation that returned is on disk even across
 * power loss, which is what "ack only once durable" needs. The connection runs
 * `synchronous = NORMAL` and the store waits, before returning, for a grouped
 * fsync of the WAL off the main thread (wal-durability.ts): as durable as
 * `synchronous = FULL`, without blocking the event loop on every commit.
 * Transactions start with BEGIN IMMEDIATE: a second process on the same file
 * (a CLI, say) then waits on busy_timeout instead of failing with SQLITE_BUSY
 * when a read transaction tries to become a write transaction. Read-only
 * snapshots (`store.snapshot`) begin deferred instead and never write.
 * Within one process, Kysely's SQLite driver serializes all queries and
 * transactions on one connection, so transactions never interleave.
 */
import { chmod, mkdir, open as openFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteAdapter, SqliteDriver, SqliteIntrospector, SqliteQueryCompiler } from 'kysely';
import type { DatabaseConnection, Dialect, SqliteDialectConfig, TransactionSettings } from 'kysely';
import { openFolderBlobStore, type BlobStore } from './blob-store.ts';
import { StoreError } from './errors.ts';
import { createKyselyStore } from './kysely-store.ts';
import { cachingDatabase, STATEMENT_CACHE_SIZE } from './statement-cache.ts';
import { walDurability } from './wal-durability.ts';
import { migrateToLatest } from './migrations.ts';
import type { Database } from './schema.ts';
import type { Store } from './store.ts';

export interface SqliteStoreOptions {
  /** Created if missing; holds `flock.db` and `blobs/`. */
  dataDir: string;
  /** Largest blob accepted by `blobs.put`; 256 MiB by default. */
  maxBlobBytes?: number;
  /** Keep blobs here (e.g. S3) instead of `dataDir/blobs`. */
  blobs?: BlobStore;
  /** 'full' (default): what returned survives power loss; 'normal': only process crashes (no WAL fsync at all). */
  synchronous?: 'full' | 'normal';
  /**
   * With 'full': true (default) fsyncs the WAL off the main thread, one fsync
   * for all commits waiting (wal-durability.ts); false lets SQLite fsync inside
   * every COMMIT on the main thread (`synchronous = FULL`; the bench's baseline).
   */
  groupCommit?: boolean;
  /** How long a writer waits for another process's lock; 5000 ms by default. */
  busyTimeoutMs?: number;
  /** Prepared statements kept per connection; 256 by default, 0 prepares every query afresh (the bench's baseline). */
  statementCacheSize?: number;
  /** Clock for stored timestamps (tests). */
  now?: () => Date;
}

export const SQLITE_FILE = 'flock.db';
export const BLOB_DIR = 'blobs';

/** Data directories open in this process: a second connection in the same thread would deadlock on locks. */
const openDirs = new Set<string>();

class ImmediateSqliteDriver extends SqliteDriver {
  /** `onRelease` is told when the connection is released, so no transaction is open (see wal-durability.ts). */
  constructor(
    config: SqliteDialectConfig,
    private readonly onRelease?: () => void,
  ) {
    super(config);
  }

  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    // A read-only snapshot takes no write lock: a deferred BEGIN reads one WAL snapshot until it ends.
    await connection.executeQuery(
      CompiledQuery.raw(settings?.accessMode === 'read only' ? 'begin' : 'begin immediate'),
    );
  }

  override async releaseConnection(): Promise<void> {
    this.onRelease?.();
    await super.releaseConnection();
  }
}

function sqliteDialect(sqlite: BetterSqlite3.Database, cacheSize: number, onRelease?: () => void): Dialect {
  const database = cacheSize > 0 ? cachingDatabase(sqlite, cacheSize) : sqlite;
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new ImmediateSqliteDriver({ database }, onRelease),
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createIntrospector: (db) => new SqliteIntrospector(db),
  };
}

/**
 * Opens (creating and migrating on first use) the SQLite store in `dataDir`.
 *
 * @example
 * ```ts
 * const store = await openSqliteStore({ dataDir: './.flock' });
 * const task = await store.getTask(id);
 * await store.close();
 * ```
 */
/**
 * The data folder 0700 and the database 0600 (SQLite gives its -wal and -shm
 * files the database's mode), whatever the umask: they hold raw device updates'
 * metadata, key hashes and audit records.
 */
async function restrictToOwner(dataDir: string, dbFile: string): Promise<void> {
  await chmod(dataDir, 0o700);
  await (await openFile(dbFile, 'a', 0o600)).close();
  await chmod(dbFile, 0o600);
  for (const extra of ['-wal', '-shm']) await chmod(`${dbFile}${extra}`, 0o600).catch(() => undefined);
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const dataDir = resolve(options.dataDir);
  if (openDirs.has(dataDir)) {
    throw new StoreError(
      'conflict',
      `The store in ${dataDir} is already open in this process; share that instance instead of opening it twice.`,
      { dataDir },
    );
  }
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await restrictToOwner(dataDir, join(dataDir, SQLITE_FILE));
  } catch (e) {
    throw new StoreError(
      'io',
      `Could not create the data directory ${dataDir}: ${(e as Error).message}`,
      { dataDir },
      { cause: e },
    );
  }
  openDirs.add(dataDir);
  let sqlite: BetterSqlite3.Database | undefined;
  let db: Kysely<Database> | undefined;
  try {
    sqlite = new BetterSqlite3(join(dataDir, SQLITE_FILE));
    sqlite.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    const mode = sqlite.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal')
      throw new Error(`could not switch to WAL (journal_mode is ${String(mode)})`);
    sqlite.pragma('foreign_keys = ON');
    // Migrations run one statement per commit; they are idempotent, so they need no fsync per statement.
    sqlite.pragma('synchronous = NORMAL');
    // Grouped WAL fsyncs unless asked for no fsync ('normal') or SQLite's own fsync in each COMMIT (FULL).
    const grouped = options.synchronous !== 'normal' && options.groupCommit !== false;
    const totalChanges = sqlite.prepare('select total_changes()').pluck();
    const wal = grouped
      ? walDurability(join(dataDir, `${SQLITE_FILE}-wal`), () => Number(totalChanges.get()))
      : undefined;
    const cacheSize = Math.max(0, Math.floor(options.statementCacheSize ?? STATEMENT_CACHE_SIZE));
    db = new Kysely<Database>({ dialect: sqliteDialect(sqlite, cacheSize, wal && (() => wal.noteReleased())) });
    await migrateToLatest(db, 'sqlite');
    if (options.synchronous !== 'normal' && options.groupCommit === false) sqlite.pragma('synchronous = FULL');
    const blobs =
      options.blobs ?? (await openFolderBlobStore({ dir: join(dataDir, BLOB_DIR), maxBytes: options.maxBlobBytes }));
    return createKyselyStore(db, {
      kind: 'sqlite',
      blobs,
      now: options.now,
      ...(wal ? { barrier: () => wal.barrier() } : {}),
      onClose: async () => {
        openDirs.delete(dataDir);
        await wal?.close();
      },
    });
  } catch (e) {
    openDirs.delete(dataDir);
    if (db) await db.destroy().catch(() => undefined);
    else sqlite?.close();
    if (e instanceof StoreError) throw e;
    throw new StoreError(
      'io',
      `Could not open the SQLite store in ${dataDir}: ${(e as Error).message}`,
      { dataDir },
      { cause: e },
    );
  }
}
