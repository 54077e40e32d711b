/**
 * The one error type routes throw. The app's error handler turns it into the
 * shared wire shape `{ error: { code, message, details? } }` with the status
 * the protocol assigns to the code, so a handler never builds error JSON by
 * hand and a client always gets a code it can switch on.
 */
import { ERROR_STATUS, type ErrorCode } from '../../shared/protocol/index.ts';

export { errorBody } from '../../shared/protocol/index.ts';

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: (typeof ERROR_STATUS)[ErrorCode];

  /**
   * @example throw new ApiError('not_selected', 'this device was not selected for round r_1; check in first')
   */
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}
