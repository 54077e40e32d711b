/**
 * How a round's aggregation failure is classified: the code stored with the
 * failed round, and whether the next round of the task would fail the same
 * way (then the task is paused instead of failing round after round).
 */
import { ZodError } from 'zod';
import { AggregationError } from '../aggregation/index.ts';
import { ApiError } from '../http/api-error.ts';

/** Aggregation errors that come from the plan or the model, not from this round's updates: the next round would hit them too. */
const REPEATING_AGGREGATION_ERRORS = new Set([
  'bad-option',
  'bad-spec',
  'optimizer-state-mismatch',
  'dp-requires-mean',
  'dp-weighted-updates',
  'dp-unbounded-accumulator',
  'tensor-count-mismatch',
]);

/** True when the error comes from the plan or the model, so every later round of the task fails the same way. */
export function repeatsEveryRound(error: unknown): boolean {
  if (error instanceof ZodError) return true; // the stored plan no longer parses
  return error instanceof AggregationError && REPEATING_AGGREGATION_ERRORS.has(error.code);
}

/**
 * The failureReason of a secure-aggregation round that aborted, e.g.
 * "secure aggregation aborted (too_few_survivors): only 4 of 10 selected devices sent masked inputs; ...".
 */
export function secureAggregationFailure(reason: string, message: string): string {
  return `secure aggregation aborted (${reason}): ${message}`;
}

/** The short code stored in a failed round's metrics. */
export function failureCode(error: unknown): string {
  if (error instanceof AggregationError || error instanceof ApiError) return error.code;
  if (error instanceof ZodError) return 'invalid-plan';
  return 'internal';
}
