/**
 * Request limits: body size per route and rate limits per device / per IP.
 * Both answer in the shared error shape (413 payload_too_large, 429
 * rate_limited with Retry-After) instead of plain text. Rate counters live in
 * a RateLimitStore (rate-limit-store.ts): in memory, or in PostgreSQL so that
 * several coordinator processes enforce one limit together.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getConnInfo } from '@hono/node-server/conninfo';
import { errorBody } from './api-error.ts';
import { assertRateLimit, memoryRateLimitStore, type RateLimit, type RateLimitStore } from './rate-limit-store.ts';

/**
 * Refuses bodies over `maxBytes` with 413 before they are read in full.
 * @example app.put('/v1/rounds/:id/updates', limitBody(64 << 20), handler)
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      c.json(
        errorBody('payload_too_large', `request body is larger than this route accepts (${maxBytes} bytes)`, {
          maxBytes,
        }),
        413,
      ),
  });
}

/** The caller's IP as the socket reports it ('unknown' under app.request in tests). */
export function clientIp(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export type { RateLimit } from './rate-limit-store.ts';

/**
 * Rate limit keyed by `key(c)` (a device id, an IP), counted in `store`: the
 * coordinator passes `deps.rateLimits`, which is shared by every process on
 * PostgreSQL. Without a store, this middleware counts in its own memory.
 * Every answer carries the draft-7 `RateLimit-Policy` and `RateLimit`
 * headers; a refusal is 429 rate_limited with Retry-After set to the time
 * left in the key's window.
 * @example app.use('/v1/devices', limitRate({ limit: 30, windowMs: 60_000 }, (c) => 'ip:' + clientIp(c), deps.rateLimits))
 */
export function limitRate(
  rate: RateLimit,
  key: (c: Context) => string,
  store: RateLimitStore = memoryRateLimitStore(),
): MiddlewareHandler {
  assertRateLimit(rate);
  const policy = `${rate.limit};w=${Math.ceil(rate.windowMs / 1000)}`;
  return async function limitRate(c, next) {
    const d = await store.consume(key(c), rate);
    const resetSeconds = Math.ceil(d.resetMs / 1000);
    c.header('RateLimit-Policy', policy);
    c.header('RateLimit', `limit=${rate.limit}, remaining=${d.remaining}, reset=${resetSeconds}`);
    if (d.allowed) return next();
    // Never 0: a client told to retry at once would only be refused again.
    const retryAfterSeconds = Math.max(1, resetSeconds);
    c.header('Retry-After', String(retryAfterSeconds));
    return c.json(
      errorBody('rate_limited', `too many requests; retry after ${retryAfterSeconds} s`, { retryAfterSeconds }),
      429,
    );
  };
}
