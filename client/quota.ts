/**
 * Storage quota before a model download: the browser may evict or refuse
 * IndexedDB writes when the origin runs out of its share of the disk, and a
 * model written halfway is worse than none (it costs space and never loads).
 * So `syncModel` asks first: `quotaDecision` is the pure rule over
 * `navigator.storage.estimate()`, `checkStorageQuota` the I/O around it.
 */
import { FlockError } from './flock-error.ts';

/** What `navigator.storage.estimate()` answers (both fields may be missing). */
export interface StorageEstimateLike {
  usage?: number;
  quota?: number;
}

/** The part of `navigator.storage` Flock uses. */
export interface StorageManagerLike {
  estimate(): Promise<StorageEstimateLike>;
  persist?: () => Promise<boolean>;
  persisted?: () => Promise<boolean>;
}

export type QuotaDecision =
  | { ok: true; freeBytes: number | null }
  | { ok: false; neededBytes: number; freeBytes: number; message: string };

const MB = 1024 * 1024;
const mb = (bytes: number) => (bytes / MB).toFixed(1);

/**
 * Whether `neededBytes` fit in what the estimate leaves free, keeping
 * `headroom` (default 10%) of the quota spare: browsers count IndexedDB
 * overhead on top of the payload. Unknown quotas are not refused.
 *
 * @example
 * quotaDecision({ usage: 90e6, quota: 100e6 }, 20e6) // { ok: false, message: 'needs 19.1 MB, ...' }
 */
export function quotaDecision(
  estimate: StorageEstimateLike,
  neededBytes: number,
  options: { headroom?: number; smallerVariant?: string } = {},
): QuotaDecision {
  const { usage, quota } = estimate;
  if (typeof quota !== 'number' || !Number.isFinite(quota) || quota <= 0) return { ok: true, freeBytes: null };
  const freeBytes = Math.max(0, quota * (1 - (options.headroom ?? 0.1)) - (usage ?? 0));
  if (neededBytes <= freeBytes) return { ok: true, freeBytes };
  const hint = options.smallerVariant
    ? `free space or use the ${options.smallerVariant} variant`
    : 'free space (clear site data of other apps) and retry';
  return {
    ok: false,
    neededBytes,
    freeBytes,
    message: `the model needs ${mb(neededBytes)} MB, ${mb(freeBytes)} MB free in this site's storage; ${hint}`,
  };
}

let persistAsked = false;

/**
 * Ask the browser once per page to keep this origin's storage (so the model
 * is not evicted under pressure), then refuse a download that does not fit.
 * @throws FlockError 'quota'
 *
 * @example
 * await checkStorageQuota(variant.totalBytes, { smallerVariant: 'int8' });
 */
export async function checkStorageQuota(
  neededBytes: number,
  options: { storage?: StorageManagerLike; smallerVariant?: string } = {},
): Promise<QuotaDecision> {
  const storage = options.storage ?? (globalThis.navigator as { storage?: StorageManagerLike } | undefined)?.storage;
  if (storage === undefined || neededBytes <= 0) return { ok: true, freeBytes: null };
  if (!persistAsked && storage.persist) {
    persistAsked = true;
    // A refusal is fine (the browser decides by engagement); the quota check below still applies.
    await storage.persist().catch(() => false);
  }
  let estimate: StorageEstimateLike;
  try {
    estimate = await storage.estimate();
  } catch {
    return { ok: true, freeBytes: null };
  }
  const decision = quotaDecision(estimate, neededBytes, { smallerVariant: options.smallerVariant });
  if (!decision.ok) throw new FlockError('quota', decision.message);
  return decision;
}
