/**
 * When the transport tries a request again, and how long it waits first:
 * exponential backoff with full jitter (AWS Architecture Blog, "Exponential
 * Backoff and Jitter", 2015), overridden by the server's Retry-After. Pure
 * functions, so the policy is tested without a clock.
 */

export interface RetryPolicy {
  /** Attempts after the first (default 4, so at most 5 requests). */
  retries: number;
  /** Backoff ceiling of the first retry, doubled for each further one (default 250 ms). */
  baseDelayMs: number;
  /** Largest backoff between two attempts (default 10 s). */
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the error goes to the caller (default 60 s). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 4,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
};

/**
 * Statuses worth another attempt: 429 and 5xx say "not now", while any other
 * 4xx says the request itself is wrong and would fail again.
 *
 * @example
 * isRetryableStatus(503) // true
 * isRetryableStatus(409) // false
 */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599);
}

/**
 * The jittered backoff before retry number `attempt` (0 for the first retry):
 * uniform in [0, min(maxDelayMs, baseDelayMs * 2^attempt)). Full jitter keeps a
 * fleet that failed together from retrying together.
 *
 * @example
 * backoffDelayMs(2, DEFAULT_RETRY_POLICY, Math.random) // somewhere in [0, 1000)
 */
export function backoffDelayMs(
  attempt: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/**
 * Parses a Retry-After header (delay-seconds or an HTTP date) into seconds
 * from `nowMs`; undefined when absent or unreadable.
 *
 * @example
 * parseRetryAfterSeconds('3') // 3
 * parseRetryAfterSeconds('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:50 GMT')) // 10
 */
export function parseRetryAfterSeconds(
  header: string | null | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, (at - nowMs) / 1000);
}
