/**
 * The one error type routes throw. The app's error handler turns it into the
 * shared wire shape `{ error: { code, message, details? } }` with its status,
 * so a handler never builds error JSON by hand and a client always gets a code
 * it can switch on.
 */
export type ApiErrorStatus = 400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 422 | 429 | 500 | 503;

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: ApiErrorStatus,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** The wire body of an error. */
export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}
