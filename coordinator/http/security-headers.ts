/**
 * Headers every answer carries, API and pages alike: no MIME sniffing, no
 * referrer leaking device or admin URLs, and no framing by other sites
 * (`frame-ancestors 'none'`, with `X-Frame-Options` for old browsers). A
 * route that sets its own Content-Security-Policy keeps it.
 */
import type { MiddlewareHandler } from 'hono';

export const FRAME_ANCESTORS_CSP = "frame-ancestors 'none'";

export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const headers = c.res.headers;
    headers.set('X-Content-Type-Options', 'nosniff');
    headers.set('Referrer-Policy', 'no-referrer');
    headers.set('X-Frame-Options', 'DENY');
    if (!headers.has('Content-Security-Policy')) headers.set('Content-Security-Policy', FRAME_ANCESTORS_CSP);
  };
}
