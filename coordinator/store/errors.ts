/**
 * The one error type the store throws. Expected outcomes (a full round, a
 * duplicate upload) are returned as values, never thrown; a StoreError means
 * something the caller did not plan for, and its `code` maps to an HTTP status.
 */

/** What went wrong, in terms a route can map to a status (404, 409, 400, 413, 500). */
export type StoreErrorCode = 'not_found' | 'conflict' | 'invalid' | 'too_large' | 'io';

/**
 * A store failure with a machine-readable code and optional details.
 *
 * @example
 * ```ts
 * try { await store.getTask(id, { required: true }); }
 * catch (e) { if (e instanceof StoreError && e.code === 'not_found') return c.json(..., 404); }
 * ```
 */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: StoreErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
    this.details = details;
  }
}

/** True when `e` is a StoreError, optionally with the given code. */
export function isStoreError(e: unknown, code?: StoreErrorCode): e is StoreError {
  return e instanceof StoreError && (code === undefined || e.code === code);
}
