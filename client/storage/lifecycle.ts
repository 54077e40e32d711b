/**
 * The rules both stores apply, as plain functions over plain data: which
 * shards a model needs, what activation does to the pointers, which versions
 * pruning keeps, and the example and outbox bounds. Keeping them here makes
 * the memory and IndexedDB stores agree by construction.
 */
import {
  ClientStoreError,
  DEFAULT_MAX_EXAMPLE_AGE_MS,
  DEFAULT_MAX_EXAMPLES,
  DEFAULT_MAX_OUTBOX_ENTRIES,
  type AppPointer,
  type ClientStoreOptions,
  type StoredModel,
} from './types.ts';

export interface StoreLimits {
  maxExamples: number;
  maxExampleAgeMs: number;
  maxOutboxEntries: number;
  now: () => number;
}

/** Options with defaults filled in and checked. */
export function storeLimits(options: ClientStoreOptions = {}): StoreLimits {
  const limits = {
    maxExamples: options.maxExamples ?? DEFAULT_MAX_EXAMPLES,
    maxExampleAgeMs: options.maxExampleAgeMs ?? DEFAULT_MAX_EXAMPLE_AGE_MS,
    maxOutboxEntries: options.maxOutboxEntries ?? DEFAULT_MAX_OUTBOX_ENTRIES,
    now: options.now ?? (() => Date.now()),
  };
  for (const key of ['maxExamples', 'maxExampleAgeMs', 'maxOutboxEntries'] as const) {
    if (!(Number.isInteger(limits[key]) && limits[key] > 0)) {
      throw new ClientStoreError('bad_input', `${key} must be a positive integer, got ${limits[key]}`);
    }
  }
  return limits;
}

/** Pointers of an app nothing was stored for yet. */
export function emptyPointer(app: string): AppPointer {
  return { app, activeVersion: null, previousVersion: null, newestGeneration: 0, trustedPublicKey: null };
}

/**
 * Shard hashes of the variant `model` was stored in.
 * @throws ClientStoreError 'bad_input' when the manifest has no such variant
 */
export function shardHashesOf(model: StoredModel): string[] {
  const variant = model.manifest.variants.find((v) => v.encoding === model.encoding);
  if (variant === undefined) {
    throw new ClientStoreError(
      'bad_input',
      `model ${model.app}@${model.version} is stored as ${model.encoding} but its manifest has no ${model.encoding} variant`,
    );
  }
  return variant.shards.map((s) => s.hash);
}

/**
 * Check a model record before storing it.
 * @throws ClientStoreError 'bad_input'
 */
export function checkModel(model: StoredModel): void {
  if (model.manifest.app !== model.app || model.manifest.version !== model.version) {
    throw new ClientStoreError(
      'bad_input',
      `model record ${model.app}@${model.version} carries the manifest of ${model.manifest.app}@${model.manifest.version}`,
    );
  }
  shardHashesOf(model);
}

/** Pointers after making `version` active: the old active becomes `previous`. */
export function pointerAfterActivation(pointer: AppPointer, version: number): AppPointer {
  if (pointer.activeVersion === version) return pointer;
  return { ...pointer, activeVersion: version, previousVersion: pointer.activeVersion ?? pointer.previousVersion };
}

/** Versions pruning deletes: all but active and previous. */
export function versionsToPrune(versions: readonly number[], pointer: AppPointer): number[] {
  return versions.filter((v) => v !== pointer.activeVersion && v !== pointer.previousVersion);
}

/** Throws a helpful error unless `missing` is empty. */
export function assertShardsPresent(app: string, version: number, missing: readonly string[]): void {
  if (missing.length > 0) {
    throw new ClientStoreError(
      'shards_missing',
      `cannot activate ${app}@${version}: ${missing.length} shard(s) are not stored (first: ${missing[0]}); download and verify them first`,
    );
  }
}

export function modelMissing(app: string, version: number): ClientStoreError {
  return new ClientStoreError(
    'model_missing',
    `cannot activate ${app}@${version}: no such model is stored; store it with putModel first`,
  );
}

/**
 * @throws ClientStoreError 'bad_input' for a non-finite input or a non-integer label
 */
export function checkExample(input: Float32Array, label: number, target?: Float32Array): void {
  if (target !== undefined) {
    if (!(target instanceof Float32Array) || target.length === 0)
      throw new ClientStoreError('bad_input', 'an example target must be a non-empty Float32Array');
    const bad = target.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw new ClientStoreError(
        'bad_input',
        `example target holds ${target[bad]} at index ${bad}; targets must be finite`,
      );
  }
  if (!(input instanceof Float32Array) || input.length === 0) {
    throw new ClientStoreError('bad_input', 'an example input must be a non-empty Float32Array');
  }
  if (!Number.isInteger(label) || label < 0) {
    throw new ClientStoreError('bad_input', `an example label must be a class index (integer >= 0), got ${label}`);
  }
  for (let i = 0; i < input.length; i++) {
    if (!Number.isFinite(input[i]))
      throw new ClientStoreError('bad_input', `example input holds ${input[i]} at index ${i}; inputs must be finite`);
  }
}

export function outboxFull(max: number): ClientStoreError {
  return new ClientStoreError(
    'outbox_full',
    `the outbox holds ${max} pending model updates and no telemetry to drop; wait for the network or raise maxOutboxEntries`,
  );
}
