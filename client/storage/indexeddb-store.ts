/**
 * `ClientStore` on IndexedDB through `idb` 8, with a typed schema so store
 * names, keys and values are checked by the compiler.
 *
 * The one real trap (idb README, "transaction lifetime"): a transaction
 * commits as soon as control returns to the event loop with no request
 * pending. Inside `inTransaction` bodies, await ONLY requests of that
 * transaction: never fetch, crypto.subtle, a timer or another store, or the
 * transaction auto-commits midway and the next request throws
 * TransactionInactiveError. Hash and download first, then open the transaction.
 */
import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import {
  assertShardsPresent,
  checkExample,
  checkModel,
  emptyPointer,
  modelMissing,
  outboxFull,
  pointerAfterActivation,
  shardHashesOf,
  storeLimits,
  versionsToPrune,
  type StoreLimits,
} from './lifecycle.ts';
import {
  ClientStoreError,
  type AppPointer,
  type ClientStore,
  type ClientStoreOptions,
  type DeviceRecord,
  type OutboxEntry,
  type StoredExample,
  type StoredModel,
} from './types.ts';

/** The IndexedDB schema, version 1. */
export interface FlockDbSchema extends DBSchema {
  models: { key: [string, number]; value: StoredModel; indexes: { 'by-app': string } };
  /** Shard bytes by SHA-256 hex (out-of-line keys). */
  shards: { key: string; value: Uint8Array };
  pointers: { key: string; value: AppPointer };
  /** `id` is assigned by autoIncrement on add. */
  examples: {
    key: number;
    value: Omit<StoredExample, 'id'> & { id?: number };
    indexes: { 'by-app-created': [string, number] };
  };
  outbox: { key: string; value: OutboxEntry; indexes: { 'by-next': number; 'by-kind-created': [string, number] } };
  device: { key: string; value: DeviceRecord };
}

export const FLOCK_DB_VERSION = 1;

type Db = IDBPDatabase<FlockDbSchema>;
type Names = StoreNames<FlockDbSchema>;

/** Structured clone copies a view's whole buffer; store only the viewed bytes. */
function tight<T extends Uint8Array | Float32Array>(view: T): T {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view : (view.slice() as T);
}

function isQuotaError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'QuotaExceededError';
}

/** Run `body` in one transaction; abort it if `body` throws. */
async function inTransaction<const S extends readonly Names[], M extends IDBTransactionMode, T>(
  db: Db,
  stores: S,
  mode: M,
  body: (tx: IDBPTransaction<FlockDbSchema, S, M>) => Promise<T>,
): Promise<T> {
  const tx = db.transaction(stores, mode);
  const done = tx.done;
  done.catch(() => {}); // observed below; this only keeps an abort from surfacing as unhandled
  try {
    const result = await body(tx);
    await done;
    return result;
  } catch (error) {
    try {
      tx.abort();
    } catch {
      // already committed or aborted
    }
    if (isQuotaError(error)) {
      throw new ClientStoreError(
        'quota_exceeded',
        'the browser refused to store more data (storage quota); free space, prune old versions, or ask for navigator.storage.persist()',
      );
    }
    throw error;
  }
}

const appRange = (app: string, from = -Infinity, to = Infinity, toOpen = false) =>
  IDBKeyRange.bound([app, from], [app, to], false, toOpen);

/** Delete expired and over-count examples of `app` inside an open examples transaction. */
async function evictExamples(
  tx: IDBPTransaction<FlockDbSchema, readonly ['examples'], 'readwrite'>,
  app: string,
  limits: StoreLimits,
): Promise<number> {
  const index = tx.store.index('by-app-created');
  let evicted = 0;
  const cutoff = limits.now() - limits.maxExampleAgeMs;
  for (let c = await index.openCursor(appRange(app, -Infinity, cutoff, true)); c; c = await c.continue()) {
    await c.delete();
    evicted++;
  }
  let excess = (await index.count(appRange(app))) - limits.maxExamples;
  for (let c = excess > 0 ? await index.openCursor(appRange(app)) : null; c && excess > 0; c = await c.continue()) {
    await c.delete();
    evicted++;
    excess--;
  }
  return evicted;
}

/**
 * Open (or create) the IndexedDB database `name` as a `ClientStore`.
 *
 * @example
 * const store = await openIndexedDbStore('flock', { maxExamples: 2000 });
 * const { activeVersion } = await store.getPointer('digits');
 */
export async function openIndexedDbStore(name = 'flock', options: ClientStoreOptions = {}): Promise<ClientStore> {
  const limits = storeLimits(options);
  let closed = false;
  const db = await openDB<FlockDbSchema>(name, FLOCK_DB_VERSION, {
    upgrade(database) {
      const models = database.createObjectStore('models', { keyPath: ['app', 'version'] });
      models.createIndex('by-app', 'app');
      database.createObjectStore('shards');
      database.createObjectStore('pointers', { keyPath: 'app' });
      const examples = database.createObjectStore('examples', { keyPath: 'id', autoIncrement: true });
      examples.createIndex('by-app-created', ['app', 'createdAt']);
      const outbox = database.createObjectStore('outbox', { keyPath: 'id' });
      outbox.createIndex('by-next', 'nextAttemptAt');
      outbox.createIndex('by-kind-created', ['kind', 'createdAt']);
      database.createObjectStore('device', { keyPath: 'app' });
    },
    // Another tab wants a newer schema: step aside rather than block it forever.
    blocking() {
      closed = true;
      db.close();
    },
    terminated() {
      closed = true;
    },
  });
  const open = () => {
    if (closed)
      throw new ClientStoreError('closed', 'the IndexedDB store was closed (or another tab upgraded it); reopen it');
  };

  return {
    async putModel(model) {
      open();
      checkModel(model);
      await db.put('models', model);
    },
    async getModel(app, version) {
      open();
      return db.get('models', [app, version]);
    },
    async listModels(app) {
      open();
      const models = await db.getAllFromIndex('models', 'by-app', app);
      return models.sort((a, b) => a.version - b.version);
    },

    async putShard(hash, bytes) {
      open();
      await inTransaction(db, ['shards'], 'readwrite', async (tx) => {
        await tx.store.put(tight(bytes), hash);
      });
    },
    async getShard(hash) {
      open();
      return db.get('shards', hash);
    },
    async missingShards(hashes) {
      open();
      return inTransaction(db, ['shards'], 'readonly', async (tx) => {
        const keys = await Promise.all(hashes.map((h) => tx.store.getKey(h)));
        return hashes.filter((_, i) => keys[i] === undefined);
      });
    },

    async getPointer(app) {
      open();
      return (await db.get('pointers', app)) ?? emptyPointer(app);
    },
    async activateVersion(app, version) {
      open();
      // One transaction over models, shards and pointers: the check and the flip
      // cannot interleave with a prune or another tab's activation.
      return inTransaction(db, ['models', 'shards', 'pointers'], 'readwrite', async (tx) => {
        const model = await tx.objectStore('models').get([app, version]);
        if (model === undefined) throw modelMissing(app, version);
        const hashes = shardHashesOf(model);
        const keys = await Promise.all(hashes.map((h) => tx.objectStore('shards').getKey(h)));
        assertShardsPresent(
          app,
          version,
          hashes.filter((_, i) => keys[i] === undefined),
        );
        const pointers = tx.objectStore('pointers');
        const next = pointerAfterActivation((await pointers.get(app)) ?? emptyPointer(app), version);
        await pointers.put(next);
        return next;
      });
    },
    async noteGeneration(app, generation) {
      open();
      return inTransaction(db, ['pointers'], 'readwrite', async (tx) => {
        const p = (await tx.store.get(app)) ?? emptyPointer(app);
        const newest = Math.max(p.newestGeneration, generation);
        await tx.store.put({ ...p, newestGeneration: newest });
        return newest;
      });
    },
    async trustPublicKey(app, publicKey) {
      open();
      return inTransaction(db, ['pointers'], 'readwrite', async (tx) => {
        const p = (await tx.store.get(app)) ?? emptyPointer(app);
        if (p.trustedPublicKey === null) {
          await tx.store.put({ ...p, trustedPublicKey: publicKey });
          return { status: 'stored' as const, trustedPublicKey: publicKey };
        }
        return {
          status: p.trustedPublicKey === publicKey ? ('matched' as const) : ('mismatch' as const),
          trustedPublicKey: p.trustedPublicKey,
        };
      });
    },
    async pruneVersions(app) {
      open();
      return inTransaction(db, ['models', 'shards', 'pointers'], 'readwrite', async (tx) => {
        const pointer = (await tx.objectStore('pointers').get(app)) ?? emptyPointer(app);
        const models = tx.objectStore('models');
        const all = await models.getAll();
        const doomed = versionsToPrune(
          all.filter((m) => m.app === app).map((m) => m.version),
          pointer,
        ).sort((a, b) => a - b);
        await Promise.all(doomed.map((v) => models.delete([app, v])));
        const kept = all.filter((m) => m.app !== app || !doomed.includes(m.version));
        const referenced = new Set(kept.flatMap(shardHashesOf));
        const shards = tx.objectStore('shards');
        const deletedShards = (await shards.getAllKeys()).filter((h) => !referenced.has(h)).sort();
        await Promise.all(deletedShards.map((h) => shards.delete(h)));
        return { deletedVersions: doomed, deletedShards };
      });
    },

    async addExample(app, input, label, target) {
      open();
      checkExample(input, label, target);
      return inTransaction(db, ['examples'], 'readwrite', async (tx) => {
        const id = await tx.store.add({
          app,
          input: tight(input),
          label,
          ...(target ? { target: tight(target) } : {}),
          createdAt: limits.now(),
        });
        const evicted = await evictExamples(tx, app, limits);
        return { id, evicted };
      });
    },
    async listExamples(app) {
      open();
      return inTransaction(db, ['examples'], 'readwrite', async (tx) => {
        await evictExamples(tx, app, limits);
        return (await tx.store.index('by-app-created').getAll(appRange(app))) as StoredExample[];
      });
    },
    async countExamples(app) {
      open();
      return inTransaction(db, ['examples'], 'readwrite', async (tx) => {
        await evictExamples(tx, app, limits);
        return tx.store.index('by-app-created').count(appRange(app));
      });
    },
    async clearExamples(app) {
      open();
      await inTransaction(db, ['examples'], 'readwrite', async (tx) => {
        for (let c = await tx.store.index('by-app-created').openCursor(appRange(app)); c; c = await c.continue())
          await c.delete();
      });
    },

    async enqueueOutbox(entry) {
      open();
      const now = limits.now();
      const stored: OutboxEntry = {
        ...entry,
        body: tight(entry.body),
        attempts: 0,
        nextAttemptAt: entry.nextAttemptAt ?? now,
        createdAt: now,
      };
      await inTransaction(db, ['outbox'], 'readwrite', async (tx) => {
        if ((await tx.store.getKey(entry.id)) === undefined && (await tx.store.count()) >= limits.maxOutboxEntries) {
          const oldestTelemetry = await tx.store.index('by-kind-created').openCursor(appRange('telemetry'));
          if (oldestTelemetry === null) throw outboxFull(limits.maxOutboxEntries);
          await oldestTelemetry.delete();
        }
        await tx.store.put(stored);
      });
      return stored;
    },
    async dueOutbox(limit, at) {
      open();
      return db.getAllFromIndex('outbox', 'by-next', IDBKeyRange.upperBound(at ?? limits.now()), limit);
    },
    async rescheduleOutbox(id, nextAttemptAt, error) {
      open();
      await inTransaction(db, ['outbox'], 'readwrite', async (tx) => {
        const e = await tx.store.get(id);
        if (e !== undefined) await tx.store.put({ ...e, attempts: e.attempts + 1, nextAttemptAt, lastError: error });
      });
    },
    async removeOutbox(id) {
      open();
      await db.delete('outbox', id);
    },
    async countOutbox() {
      open();
      const [update, telemetry] = await Promise.all([
        db.countFromIndex('outbox', 'by-kind-created', appRange('update')),
        db.countFromIndex('outbox', 'by-kind-created', appRange('telemetry')),
      ]);
      return { update, telemetry };
    },

    async getDevice(app) {
      open();
      return db.get('device', app);
    },
    async putDevice(device) {
      open();
      await db.put('device', device);
    },
    async deleteDevice(app) {
      open();
      await db.delete('device', app);
    },

    async close() {
      closed = true;
      db.close();
    },
  };
}
