/**
 * Errors `connect` and model updates raise, with a code to branch on and a
 * message that says what went wrong and what to do.
 */

export type FlockErrorCode =
  /** The coordinator's manifest key differs from the one trusted on first use (or pinned). */
  | 'trust_changed'
  /** A downloaded shard, variant or topology did not match its signed SHA-256. */
  | 'integrity'
  /** No model is cached and the coordinator has none for the app (or it could not be loaded). */
  | 'no_model'
  /** No model is cached and the coordinator could not be reached (down, wrong URL, CORS, or connect's timeoutMs). */
  | 'unreachable'
  /** No model is cached and the coordinator refused this device (e.g. rate limited, unauthorized, bad request). */
  | 'rejected'
  /** The manifest offers no variant this client can load. */
  | 'no_variant'
  /** The GPU device of the running backend was lost; Flock fell back to another backend. */
  | 'backend_lost'
  /** The model does not fit in the storage the browser grants this site. */
  | 'quota'
  /** The Flock was closed. */
  | 'closed';

/**
 * @example
 * try { await flock.checkForUpdate(); } catch (e) {
 *   if (e instanceof FlockError && e.code === 'integrity') console.warn('download corrupted; still on', flock.status().modelVersion);
 * }
 */
export class FlockError extends Error {
  readonly code: FlockErrorCode;
  constructor(code: FlockErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlockError';
    this.code = code;
  }
}
