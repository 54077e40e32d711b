/**
 * Headers every answer carries, API and pages alike: no MIME sniffing, no
 * referrer leaking device or admin URLs, and no framing by other sites
 * (`frame-ancestors 'none'`, with `X-Frame-Options` for old browsers). A
 * route that sets its own Content-Security-Policy keeps it.
 *
 * Documents and scripts (the Digits PWA, the dashboard, the service worker
 * and the training worker take their policy from their own response) get a
 * full policy with no inline script and no eval: code only from this origin,
 * WebAssembly compiled (`'wasm-unsafe-eval'`, which tfjs-backend-wasm needs)
 * and wasm thread workers from blob: URLs (the threaded backend's workers
 * importScripts its glue from blob: too). Inline styles stay allowed: the
 * dashboard's charts set style attributes, which cannot run code.
 */
import type { MiddlewareHandler } from 'hono';

export const FRAME_ANCESTORS_CSP = "frame-ancestors 'none'";

export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self' blob: 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  FRAME_ANCESTORS_CSP,
].join('; ');

const DOCUMENT_TYPES = /^(text\/html|text\/javascript|application\/javascript)\b/;

export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const headers = c.res.headers;
    headers.set('X-Content-Type-Options', 'nosniff');
    headers.set('Referrer-Policy', 'no-referrer');
    headers.set('X-Frame-Options', 'DENY');
    if (!headers.has('Content-Security-Policy')) {
      headers.set(
        'Content-Security-Policy',
        DOCUMENT_TYPES.test(headers.get('content-type') ?? '') ? PAGE_CSP : FRAME_ANCESTORS_CSP,
      );
    }
  };
}
