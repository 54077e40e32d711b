/**
 * The client's persistent state: models, shards, pointers, examples, outbox
 * and device registration behind one async `ClientStore`, on IndexedDB in
 * browsers and in memory in Node.
 *
 * @example
 * const store = typeof indexedDB === 'undefined' ? createMemoryStore() : await openIndexedDbStore('flock');
 * if ((await store.missingShards(hashes)).length === 0) await store.activateVersion('digits', 4);
 */
export { openIndexedDbStore, FLOCK_DB_VERSION } from './indexeddb-store.ts';
export type { FlockDbSchema } from './indexeddb-store.ts';
export { createMemoryStore } from './memory-store.ts';
export { shardHashesOf } from './lifecycle.ts';
export {
  ClientStoreError,
  DEFAULT_MAX_EXAMPLES,
  DEFAULT_MAX_EXAMPLE_AGE_MS,
  DEFAULT_MAX_OUTBOX_ENTRIES,
} from './types.ts';
export type {
  AppPointer,
  ClientStore,
  ClientStoreErrorCode,
  ClientStoreOptions,
  DeviceRecord,
  OutboxEntry,
  OutboxKind,
  PruneResult,
  StoredExample,
  StoredModel,
  TrustResult,
} from './types.ts';
