/**
 * The error the federated transport throws for every failed request: an HTTP
 * answer with the shared error shape, an answer that is not what the protocol
 * promises, a network failure or a timeout. Callers branch on `code`.
 */
import { isErrorBody, type ErrorCode } from '../../shared/protocol/index.ts';

/**
 * A coordinator error code, or one of the transport's own:
 * - `network_error`: no HTTP answer (connection refused, reset, DNS) after all retries;
 * - `timeout`: no complete answer within the per-request timeout, after all retries;
 * - `bad_response`: an answer that is not the shared error shape or fails the message schema.
 */
export type TransportErrorCode = ErrorCode | 'network_error' | 'timeout' | 'bad_response';

/**
 * A failed request. `status` is the HTTP status, or 0 when there was no answer.
 *
 * @example
 * try { await transport.uploadUpdate(roundId, bytes, meta); }
 * catch (e) { if (e instanceof FlockHttpError && e.code === 'round_closed') await nextCheckIn(); else throw e; }
 */
export class FlockHttpError extends Error {
  readonly status: number;
  readonly code: TransportErrorCode;
  readonly details?: unknown;
  /** The server's Retry-After, in seconds, when it sent one. */
  readonly retryAfterSeconds?: number;

  constructor(
    status: number,
    code: TransportErrorCode,
    message: string,
    extra: { details?: unknown; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'FlockHttpError';
    this.status = status;
    this.code = code;
    if (extra.details !== undefined) this.details = extra.details;
    if (extra.retryAfterSeconds !== undefined) this.retryAfterSeconds = extra.retryAfterSeconds;
  }
}

/**
 * Builds the error for a non-2xx answer from its body text. A body in the
 * shared shape keeps the server's code and message; anything else (a proxy's
 * HTML page, an empty 502) becomes `bad_response` quoting the start of it.
 */
export function errorFromAnswer(
  method: string,
  url: string,
  status: number,
  bodyText: string,
  retryAfterSeconds?: number,
): FlockHttpError {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    body = undefined;
  }
  const extra = retryAfterSeconds === undefined ? {} : { retryAfterSeconds };
  if (isErrorBody(body)) {
    return new FlockHttpError(status, body.error.code, body.error.message, { ...extra, details: body.error.details });
  }
  const excerpt = bodyText.slice(0, 200).replace(/\s+/g, ' ').trim();
  return new FlockHttpError(
    status,
    'bad_response',
    `${method} ${url} answered ${status} without a Flock error body${excerpt ? `: "${excerpt}"` : ''}; is the base URL a Flock coordinator?`,
    extra,
  );
}
