/**
 * Cross-origin embedding: the device routes answer pages of the origins an
 * operator listed (`flock serve --cors-origin https://app.example`,
 * `FLOCK_CORS_ORIGINS`), with preflight for the headers the SDK sends and the
 * response headers it reads exposed. Admin routes never answer another
 * origin: no CORS headers there, so a browser refuses the response.
 *
 * Default: no origins, so only pages of the coordinator's own origin (the
 * demo, the dashboard) can call it from a browser.
 */
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { Env } from './env.ts';

/** Request headers the browser SDK sends to device routes. */
export const SDK_REQUEST_HEADERS = [
  'Authorization',
  'Content-Type',
  'flock-update-meta',
  // SECAGG_MASKED_HEADER: a secure-aggregation round's masked-input header.
  'x-flock-secagg-masked',
  'If-None-Match',
  'Last-Event-ID',
] as const;
/** Response headers the SDK reads. */
export const SDK_EXPOSED_HEADERS = ['ETag', 'Retry-After'] as const;

/**
 * Normalises and checks operator-given origins (scheme://host[:port], no path).
 * @throws Error naming the first value that is not an origin
 */
export function parseCorsOrigins(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean)) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error(`"${raw}" is not an origin; write it as scheme://host[:port], e.g. https://app.example.com`);
    }
    if (
      !/^https?:$/.test(url.protocol) ||
      (url.pathname !== '/' && url.pathname !== '') ||
      url.search ||
      url.hash ||
      raw.replace(/\/$/, '') !== url.origin
    ) {
      throw new Error(`"${raw}" is not an origin; write it as scheme://host[:port] with no path, e.g. ${url.origin}`);
    }
    if (!out.includes(url.origin)) out.push(url.origin);
  }
  return out;
}

/** The routes a device (page, worker, service worker) calls; admin routes are not among them. */
export const DEVICE_ROUTE_PATTERNS = [
  '/v1/devices',
  '/v1/devices/*',
  '/v1/apps/*',
  '/v1/tasks/*',
  '/v1/rounds/*',
  '/v1/telemetry',
  '/v1/blobs/*',
  '/v1/keys/*',
] as const;

/** CORS for device routes, open to exactly `origins`; a no-op when the list is empty. */
export function deviceCors(origins: readonly string[]): MiddlewareHandler<Env> {
  const allowed = new Set(origins);
  if (allowed.size === 0) return async (_c, next) => next();
  return cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'PUT', 'OPTIONS'],
    allowHeaders: [...SDK_REQUEST_HEADERS],
    exposeHeaders: [...SDK_EXPOSED_HEADERS],
    maxAge: 600,
  });
}
