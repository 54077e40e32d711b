/**
 * The one error shape of the Flock HTTP API, `{ error: { code, message, details? } }`,
 * the closed set of codes and the HTTP status each code is answered with.
 *
 * Clients branch on `code`, never on `message`; the message is for the human
 * reading a log and says what went wrong and what to do.
 */
import { z } from 'zod';

/** Every error code the coordinator may answer with. */
export const ERROR_CODES = [
  'bad_request',
  'validation_failed',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'payload_too_large',
  'unprocessable',
  'rate_limited',
  'round_closed',
  'round_not_found',
  'not_selected',
  'late_upload',
  'shape_mismatch',
  'non_finite',
  'norm_exceeded',
  'budget_exhausted',
  'manifest_stale',
  'protocol_unsupported',
  'internal',
  'not_implemented',
] as const;

export const ErrorCodeSchema = z.enum(ERROR_CODES);
/** A machine-readable error code, e.g. `'late_upload'`. */
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

/**
 * The HTTP status each error code is sent with.
 *
 * @example
 * return c.json(errorBody('not_selected', 'device was not selected for this round'), ERROR_STATUS.not_selected);
 */
export const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  protocol_unsupported: 400,
  unauthorized: 401,
  forbidden: 403,
  // The device is authenticated but this round is not its to upload to.
  not_selected: 403,
  not_found: 404,
  round_not_found: 404,
  conflict: 409,
  // State conflicts: the request was well formed but the round, budget or
  // manifest has moved on; retrying the same request will not help.
  round_closed: 409,
  late_upload: 409,
  budget_exhausted: 409,
  manifest_stale: 409,
  payload_too_large: 413,
  unprocessable: 422,
  shape_mismatch: 422,
  non_finite: 422,
  norm_exceeded: 422,
  rate_limited: 429,
  internal: 500,
  // A valid request for something this coordinator cannot do yet.
  not_implemented: 501,
} as const satisfies Record<ErrorCode, number>;

export const ErrorBodySchema = z.object({
  error: z.object({
    code: ErrorCodeSchema,
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
/** The body of every non-2xx answer. */
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/**
 * Builds an error body.
 *
 * @example
 * errorBody('late_upload', 'round r-7 closed at 12:00:00Z; wait for the next check-in')
 * // { error: { code: 'late_upload', message: 'round r-7 closed ...' } }
 */
export function errorBody(code: ErrorCode, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}

/**
 * True when `value` has the shared error shape with a known code.
 *
 * @example
 * const body: unknown = await res.json();
 * if (isErrorBody(body) && body.error.code === 'round_closed') scheduleNextCheckIn();
 */
export function isErrorBody(value: unknown): value is ErrorBody {
  return ErrorBodySchema.safeParse(value).success;
}
