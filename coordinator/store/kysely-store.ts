/**
 * Assembles a `Store` from a Kysely instance: the dialect-neutral half that the
 * SQLite store uses now and the PostgreSQL store will reuse as is.
 *
 * Transactions: `store.transaction(fn)` hands `fn` a `tx` whose operations run
 * in that transaction, and nested atomic operations join it instead of opening
 * their own. Calling the outer store inside `fn` would queue behind the very
 * transaction that is waiting for it (SQLite has one connection), so an
 * AsyncLocalStorage marker turns that mistake into an immediate error.
 * `store.snapshot(fn)` is the read-only sibling: one consistent view for
 * reads that must agree with each other (the manifest a device is served).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { BlobStore } from './blob-store.ts';
import type { OpsContext } from './context.ts';
import { StoreError } from './errors.ts';
import { identityOps } from './identity-ops.ts';
import { logOps } from './log-ops.ts';
import { partialOps } from './partial-ops.ts';
import { registryOps } from './registry-ops.ts';
import { rolloutOps } from './rollout-ops.ts';
import { roundOps } from './round-ops.ts';
import { secAggStatsOps } from './secagg-stats-ops.ts';
import type { Database } from './schema.ts';
import type { Store, StoreOps } from './store.ts';
import { taskOps } from './task-ops.ts';

export interface KyselyStoreOptions {
  kind: Store['kind'];
  blobs: BlobStore;
  /** Clock for every stored timestamp; the wall clock by default. */
  now?: () => Date;
  /** Runs after the database is closed (release locks, registries). */
  onClose?: () => void | Promise<void>;
  /**
   * Awaited after every operation and transaction of the outer store succeeds,
   * before its result is returned (SQLite: until the commits so far are on
   * disk; see wal-durability.ts). Not inside a transaction's `tx`.
   */
  barrier?: () => Promise<void>;
}

function opsFor(ctx: OpsContext): StoreOps {
  return {
    ...identityOps(ctx),
    ...registryOps(ctx),
    ...taskOps(ctx),
    ...roundOps(ctx),
    ...logOps(ctx),
    ...rolloutOps(ctx),
    ...partialOps(ctx),
    ...secAggStatsOps(ctx),
  };
}

/** Every operation of `ops`, returning only after `barrier` resolved. */
function withBarrier(ops: StoreOps, barrier: () => Promise<void>): StoreOps {
  const wrapped: Record<string, unknown> = {};
  for (const [name, op] of Object.entries(ops) as Array<[string, (...args: unknown[]) => Promise<unknown>]>) {
    wrapped[name] = async (...args: unknown[]) => {
      const result = await op(...args);
      await barrier();
      return result;
    };
  }
  // Must be a cast: Object.entries loses each operation's own signature; every wrapper keeps its op's arguments and result.
  return wrapped as unknown as StoreOps;
}

/**
 * Builds a Store over an already migrated Kysely database.
 *
 * @example
 * ```ts
 * const store = createKyselyStore(db, { kind: 'postgres', blobs });
 * ```
 */
export function createKyselyStore(db: Kysely<Database>, options: KyselyStoreOptions): Store {
  const now = () => (options.now?.() ?? new Date()).toISOString();
  const newId = () => randomUUID();
  const insideTx = new AsyncLocalStorage<symbol>();
  const marker = Symbol('flock-store-transaction');
  let closed = false;

  const guard = (): void => {
    if (closed) throw new StoreError('invalid', 'The store is closed; open it again to use it.');
    if (insideTx.getStore() === marker) {
      throw new StoreError(
        'invalid',
        'The outer store was called inside store.transaction(); use the `tx` argument there, or the call would wait forever on its own transaction.',
      );
    }
  };

  const rootCtx: OpsContext = {
    get db() {
      guard();
      return db;
    },
    atomic(fn) {
      guard();
      return db.transaction().execute(fn);
    },
    now,
    newId,
  };

  const barrier = options.barrier;
  return {
    ...(barrier ? withBarrier(opsFor(rootCtx), barrier) : opsFor(rootCtx)),
    kind: options.kind,
    blobs: options.blobs,
    async transaction(fn) {
      guard();
      const result = await db.transaction().execute((trx) => {
        const txCtx: OpsContext = { db: trx, atomic: (inner) => inner(trx), now, newId };
        return insideTx.run(marker, () => fn(opsFor(txCtx)));
      });
      if (barrier) await barrier();
      return result;
    },
    async snapshot(fn) {
      guard();
      // SQLite takes no isolation level; its driver turns 'read only' into a deferred BEGIN (sqlite-store.ts).
      const result = await db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute((trx) => {
          const txCtx: OpsContext = { db: trx, atomic: (inner) => inner(trx), now, newId };
          return insideTx.run(marker, () => fn(opsFor(txCtx)));
        });
      // What was read may be a commit not yet on disk; answer only once it is, like every other read.
      if (barrier) await barrier();
      return result;
    },
    async close() {
      if (closed) return;
      closed = true;
      // Wait for the in-flight query or transaction to release the connection before closing it.
      await db
        .connection()
        .execute(async () => undefined)
        .catch(() => undefined);
      await barrier?.().catch(() => undefined);
      await db.destroy();
      await options.onClose?.();
    },
  };
}
