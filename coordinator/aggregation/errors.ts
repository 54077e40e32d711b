/**
 * The one error type of the aggregation engine. The round logic maps `code` to
 * an HTTP status or a failed round; `details` says which tensor or value was
 * wrong so an operator can find the offending client or task setting.
 */

/** Every reason the aggregation engine can refuse its input. */
export type AggregationErrorCode =
  | 'backend-not-selected'
  | 'backend-unavailable'
  | 'bad-spec'
  | 'tensor-count-mismatch'
  | 'tensor-length-mismatch'
  | 'non-finite-update'
  | 'bad-weight'
  | 'no-updates'
  | 'disposed'
  | 'bad-option'
  | 'optimizer-state-mismatch'
  | 'dp-weighted-updates'
  | 'dp-unbounded-accumulator'
  | 'dp-requires-mean';

/**
 * Thrown for any invalid input to the aggregation engine.
 *
 * @example
 * try { acc.add(delta, numExamples); }
 * catch (e) { if (e instanceof AggregationError && e.code === 'tensor-length-mismatch') reject(422); }
 */
export class AggregationError extends Error {
  readonly code: AggregationErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: AggregationErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'AggregationError';
    this.code = code;
    this.details = details;
  }
}
