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
 * when a read transaction tries to become a write transaction.
 * Within one process, Kysely's SQLite driver serializes all queries and
 * transactions on one connection, so transactions never interleave.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteAdapter, SqliteDriver, SqliteIntrospector, SqliteQueryCompiler } from 'kysely';
import type { DatabaseConnection, Dialect } from 'kysely';
import { openFolderBlobStore, type BlobStore } from './blob-store.ts';
import { StoreError } from './errors.ts';
import { createKyselyStore } from './kysely-store.ts';
import { walDurability, type WalDurability } from './wal-durability.ts';
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
  /** Told when the connection is released, so no transaction is open (see wal-durability.ts). */
  onRelease: (() => void) | null = null;

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  override async releaseConnection(): Promise<void> {
    this.onRelease?.();
    await super.releaseConnection();
  }
}

/** How many prepared statements stay cached; Flock's queries are a few dozen shapes (IN lists add a few). */
const STATEMENT_CACHE_SIZE = 256;

/**
 * The connection Kysely sees, with prepared statements cached by SQL text.
 * Kysely's SQLite driver calls `prepare` for every query, and SQLite's
 * parse/plan then costs more than running the small indexed queries Flock
 * makes (measured in `store-statements.bench.ts`). Least recently used
 * statements are finalized by GC once evicted; a statement still iterating
 * (streaming, which Flock does not use) is never handed out twice.
 */
export function cachingDatabase(sqlite: BetterSqlite3.Database, size = STATEMENT_CACHE_SIZE) {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => void sqlite.close(),
    prepare(sql: string): BetterSqlite3.Statement {
      const hit = cache.get(sql);
      if (hit && !hit.busy) {
        cache.delete(sql); // re-insert: most recently used last
        cache.set(sql, hit);
        return hit;
      }
      const stmt = sqlite.prepare(sql);
      if (hit) return stmt; // the cached one is mid-iteration: use a fresh one, keep the cached one
      cache.set(sql, stmt);
      if (cache.size > size) cache.delete(cache.keys().next().value!);
      return stmt;
    },
  };
}

function sqliteDialect(sqlite: BetterSqlite3.Database, cacheSize: number, driver: (d: ImmediateSqliteDriver) => void): Dialect {
  const database = cacheSize > 0 ? cachingDatabase(sqlite, cacheSize) : sqlite;
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => {
      const d = new ImmediateSqliteDriver({ database });
      driver(d);
      return d;
    },
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
export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const dataDir = resolve(options.dataDir);
  if (openDirs.has(dataDir)) {
    throw new StoreError('conflict', `The store in ${dataDir} is already open in this process; share that instance instead of opening it twice.`, { dataDir });
  }
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (e) {
    throw new StoreError('io', `Could not create the data directory ${dataDir}: ${(e as Error).message}`, { dataDir }, { cause: e });
  }
  openDirs.add(dataDir);
  let sqlite: BetterSqlite3.Database | undefined;
  let db: Kysely<Database> | undefined;
  let durability: WalDurability | undefined;
  try {
    sqlite = new BetterSqlite3(join(dataDir, SQLITE_FILE));
    sqlite.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    const mode = sqlite.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`could not switch to WAL (journal_mode is ${String(mode)})`);
    sqlite.pragma('foreign_keys = ON');
    // Migrations run one statement per commit; they are idempotent, so they need no fsync per statement.
    sqlite.pragma('synchronous = NORMAL');
    let driver: ImmediateSqliteDriver | undefined;
    db = new Kysely<Database>({ dialect: sqliteDialect(sqlite, Math.max(0, Math.floor(options.statementCacheSize ?? STATEMENT_CACHE_SIZE)), (d) => (driver = d)) });
    await migrateToLatest(db, 'sqlite');
    if (options.synchronous !== 'normal' && options.groupCommit === false) sqlite.pragma('synchronous = FULL');
    else if (options.synchronous !== 'normal') {
      const totalChanges = sqlite.prepare('select total_changes()').pluck();
      const wal = walDurability(join(dataDir, `${SQLITE_FILE}-wal`), () => Number(totalChanges.get()));
      driver!.onRelease = () => wal.noteReleased();
      durability = wal;
    }
    const blobs = options.blobs ?? (await openFolderBlobStore({ dir: join(dataDir, BLOB_DIR), maxBytes: options.maxBlobBytes }));
    const wal = durability;
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
    await durability?.close();
    if (db) await db.destroy().catch(() => undefined);
    else sqlite?.close();
    if (e instanceof StoreError) throw e;
    throw new StoreError('io', `Could not open the SQLite store in ${dataDir}: ${(e as Error).message}`, { dataDir }, { cause: e });
  }
}
