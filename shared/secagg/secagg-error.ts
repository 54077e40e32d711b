/**
 * The one error type of secure aggregation. Its `code` says which guarantee
 * stopped the round, so a caller (a route, the round driver) can answer with
 * the right status or drop the device instead of parsing a message.
 */

export type SecAggErrorCode =
  /** A message does not fit the phase's schema, round, roster or graph. */
  | 'bad-message'
  /** A message arrived in a phase that does not take it (or a second time). */
  | 'wrong-phase'
  /** Parameters that would break privacy or correctness (threshold, graph degree, bit width). */
  | 'bad-parameters'
  /** A shared ciphertext did not authenticate for this round and these two devices. */
  | 'decrypt-failed'
  /** An unmasking request asked for both shares of one device. */
  | 'both-shares-requested'
  /** A device or the server has fewer than `threshold` live neighbours to recover a secret. */
  | 'too-few-neighbours'
  /** Too few devices reached a phase for the round to go on. */
  | 'too-few-survivors'
  /** A reconstructed masking key does not match the one the device advertised. */
  | 'key-mismatch'
  /**
   * The signed round configuration is not one this device may join: not signed by
   * the trusted key, another round, other weights, another dimension, or expired.
   * `details.reason` names which.
   */
  | 'bad-round-config'
  /** The coordinator stopped the round; `details.reason` is its SecAggAbortReason. */
  | 'round-aborted'
  /** A phase's deadline in the signed configuration passed before the device could go on. */
  | 'deadline-passed';

/** Secure aggregation refused to go on; nothing secret is in `message` or `details`. */
export class SecAggError extends Error {
  override name = 'SecAggError';
  readonly code: SecAggErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: SecAggErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }
}
