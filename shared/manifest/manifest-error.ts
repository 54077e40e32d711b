/**
 * The one error type of manifest handling. Callers branch on `code`; the
 * message says what went wrong and what to do.
 */

export type ManifestErrorCode =
  | 'bad_signature'
  | 'bad_schema'
  | 'wrong_key'
  | 'stale_generation'
  | 'hash_mismatch'
  | 'wrong_purpose';

/**
 * Thrown when a manifest, key or file cannot be trusted.
 *
 * @example
 * try { await verifyManifest(signed, key); }
 * catch (e) { if (e instanceof ManifestError && e.code === 'stale_generation') keepCurrentModel(); else throw e; }
 */
export class ManifestError extends Error {
  readonly code: ManifestErrorCode;
  readonly details: unknown;

  constructor(code: ManifestErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'ManifestError';
    this.code = code;
    this.details = details;
  }
}
