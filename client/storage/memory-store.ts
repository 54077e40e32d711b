/**
 * `ClientStore` in memory: for Node simulations of many virtual clients and
 * for tests. Plain JS, no Node APIs. Values are copied in and out with
 * `structuredClone`, as IndexedDB does, so callers see the same semantics.
 */
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

/**
 * A fresh in-memory store.
 *
 * @example
 * const store = createMemoryStore({ maxExamples: 100 });
 * await store.addExample('digits', pixels, 7);
 */
export function createMemoryStore(options: ClientStoreOptions = {}): ClientStore {
  const limits = storeLimits(options);
  const models = new Map<string, StoredModel>();
  const shards = new Map<string, Uint8Array>();
  const pointers = new Map<string, AppPointer>();
  const examples = new Map<number, StoredExample>();
  const outbox = new Map<string, OutboxEntry>();
  const devices = new Map<string, DeviceRecord>();
  let nextExampleId = 1;
  let closed = false;

  const modelKey = (app: string, version: number) => `${app}\u0000${version}`;
  const copy = <T>(value: T): T => structuredClone(value);
  const open = () => {
    if (closed) throw new ClientStoreError('closed', 'this store was closed; open a new one');
  };
  const pointerOf = (app: string) => pointers.get(app) ?? emptyPointer(app);
  const examplesOf = (app: string) =>
    [...examples.values()].filter((e) => e.app === app).sort((a, b) => a.createdAt - b.createdAt || a.id - b.id);
  const evictExamples = (app: string): number => {
    const cutoff = limits.now() - limits.maxExampleAgeMs;
    let evicted = 0;
    const kept: StoredExample[] = [];
    for (const e of examplesOf(app)) {
      if (e.createdAt < cutoff) {
        examples.delete(e.id);
        evicted++;
      } else kept.push(e);
    }
    for (const e of kept.slice(0, Math.max(0, kept.length - limits.maxExamples))) {
      examples.delete(e.id);
      evicted++;
    }
    return evicted;
  };

  return {
    async putModel(model) {
      open();
      checkModel(model);
      models.set(modelKey(model.app, model.version), copy(model));
    },
    async getModel(app, version) {
      open();
      const m = models.get(modelKey(app, version));
      return m === undefined ? undefined : copy(m);
    },
    async listModels(app) {
      open();
      return [...models.values()]
        .filter((m) => m.app === app)
        .sort((a, b) => a.version - b.version)
        .map(copy);
    },

    async putShard(hash, bytes) {
      open();
      shards.set(hash, bytes.slice());
    },
    async getShard(hash) {
      open();
      return shards.get(hash)?.slice();
    },
    async missingShards(hashes) {
      open();
      return hashes.filter((h) => !shards.has(h));
    },

    async getPointer(app) {
      open();
      return copy(pointerOf(app));
    },
    async activateVersion(app, version) {
      open();
      const model = models.get(modelKey(app, version));
      if (model === undefined) throw modelMissing(app, version);
      assertShardsPresent(
        app,
        version,
        shardHashesOf(model).filter((h) => !shards.has(h)),
      );
      const next = pointerAfterActivation(pointerOf(app), version);
      pointers.set(app, next);
      return copy(next);
    },
    async noteGeneration(app, generation) {
      open();
      const p = pointerOf(app);
      const newest = Math.max(p.newestGeneration, generation);
      pointers.set(app, { ...p, newestGeneration: newest });
      return newest;
    },
    async trustPublicKey(app, publicKey) {
      open();
      const p = pointerOf(app);
      if (p.trustedPublicKey === null) {
        pointers.set(app, { ...p, trustedPublicKey: publicKey });
        return { status: 'stored', trustedPublicKey: publicKey };
      }
      return {
        status: p.trustedPublicKey === publicKey ? 'matched' : 'mismatch',
        trustedPublicKey: p.trustedPublicKey,
      };
    },
    async pruneVersions(app) {
      open();
      const pointer = pointerOf(app);
      const doomed = versionsToPrune(
        [...models.values()].filter((m) => m.app === app).map((m) => m.version),
        pointer,
      ).sort((a, b) => a - b);
      for (const v of doomed) models.delete(modelKey(app, v));
      const referenced = new Set([...models.values()].flatMap(shardHashesOf));
      const deletedShards = [...shards.keys()].filter((h) => !referenced.has(h)).sort();
      for (const h of deletedShards) shards.delete(h);
      return { deletedVersions: doomed, deletedShards };
    },

    async addExample(app, input, label, target) {
      open();
      checkExample(input, label, target);
      const id = nextExampleId++;
      examples.set(id, {
        id,
        app,
        input: input.slice(),
        label,
        ...(target ? { target: target.slice() } : {}),
        createdAt: limits.now(),
      });
      const evicted = evictExamples(app);
      return { id, evicted };
    },
    async listExamples(app) {
      open();
      evictExamples(app);
      return examplesOf(app).map(copy);
    },
    async countExamples(app) {
      open();
      evictExamples(app);
      return examplesOf(app).length;
    },
    async clearExamples(app) {
      open();
      for (const e of examplesOf(app)) examples.delete(e.id);
    },

    async enqueueOutbox(entry) {
      open();
      const now = limits.now();
      if (!outbox.has(entry.id) && outbox.size >= limits.maxOutboxEntries) {
        const oldestTelemetry = [...outbox.values()]
          .filter((e) => e.kind === 'telemetry')
          .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))[0];
        if (oldestTelemetry === undefined) throw outboxFull(limits.maxOutboxEntries);
        outbox.delete(oldestTelemetry.id);
      }
      const stored: OutboxEntry = {
        ...copy(entry),
        body: entry.body.slice(),
        attempts: 0,
        nextAttemptAt: entry.nextAttemptAt ?? now,
        createdAt: now,
      };
      outbox.set(entry.id, stored);
      return copy(stored);
    },
    async dueOutbox(limit = Infinity, at?: number) {
      open();
      const now = at ?? limits.now();
      return [...outbox.values()]
        .filter((e) => e.nextAttemptAt <= now)
        .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .slice(0, limit)
        .map(copy);
    },
    async rescheduleOutbox(id, nextAttemptAt, error) {
      open();
      const e = outbox.get(id);
      if (e !== undefined) outbox.set(id, { ...e, attempts: e.attempts + 1, nextAttemptAt, lastError: error });
    },
    async removeOutbox(id) {
      open();
      outbox.delete(id);
    },
    async countOutbox() {
      open();
      const counts = { update: 0, telemetry: 0 };
      for (const e of outbox.values()) counts[e.kind]++;
      return counts;
    },

    async getDevice(app) {
      open();
      const d = devices.get(app);
      return d === undefined ? undefined : copy(d);
    },
    async putDevice(device) {
      open();
      devices.set(device.app, copy(device));
    },
    async deleteDevice(app) {
      open();
      devices.delete(app);
    },

    async close() {
      closed = true;
    },
  };
}
