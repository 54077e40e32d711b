/**
 * Request limits: body size per route and rate limits per device / per IP.
 * Both answer in the shared error shape (413 payload_too_large, 429
 * rate_limited with Retry-After) instead of the libraries' plain text.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getConnInfo } from '@hono/node-server/conninfo';
import { rateLimiter } from 'hono-rate-limiter';
import { errorBody } from './api-error.ts';

/**
 * Refuses bodies over `maxBytes` with 413 before they are read in full.
 * @example app.put('/v1/rounds/:id/updates', limitBody(64 << 20), handler)
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      c.json(errorBody('payload_too_large', `request body is larger than this route accepts (${maxBytes} bytes)`, { maxBytes }), 413),
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

export interface RateLimit {
  /** Requests allowed per window. */
  limit: number;
  windowMs: number;
}

/**
 * Rate limit keyed by `key(c)` (a device id, an IP). Window counters live in
 * this process; several coordinator processes each enforce their own share.
 * @example app.use('/v1/devices', limitRate({ limit: 30, windowMs: 60_000 }, (c) => 'ip:' + clientIp(c)))
 */
export function limitRate(rate: RateLimit, key: (c: Context) => string): MiddlewareHandler {
  return rateLimiter({
    windowMs: rate.windowMs,
    limit: rate.limit,
    standardHeaders: 'draft-7',
    keyGenerator: key,
    handler: (c) => {
      const retryAfterSeconds = Math.ceil(rate.windowMs / 1000);
      c.header('Retry-After', String(retryAfterSeconds));
      return c.json(errorBody('rate_limited', `too many requests; retry after ${retryAfterSeconds} s`, { retryAfterSeconds }), 429);
    },
  });
}
