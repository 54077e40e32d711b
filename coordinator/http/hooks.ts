/**
 * App-wide HTTP behaviour: validation failures, thrown errors and unknown
 * routes all answer in the shared error shape; request latency is measured
 * by route pattern (not raw path, which would explode label cardinality).
 */
import type { Context, ErrorHandler, MiddlewareHandler, NotFoundHandler } from 'hono';
import { routePath } from 'hono/route';
import { HTTPException } from 'hono/http-exception';
import { validationErrorBody } from '../../shared/protocol/index.ts';
import { CodecError } from '../../shared/codec/index.ts';
import { isStoreError } from '../store/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { CoordinatorMetrics } from '../observability/metrics.ts';
import { ApiError, errorBody } from './api-error.ts';
import type { ZodError } from 'zod';

/** `defaultHook` for @hono/zod-openapi: a failed schema is a 400 validation_failed. */
export function validationHook(result: { success: boolean; error?: unknown }, c: Context) {
  if (!result.success) return c.json(validationErrorBody(result.error as ZodError), 400);
}

export function errorHandler(log: Logger): ErrorHandler {
  return function errorHandler(error, c) {
    if (error instanceof ApiError) return c.json(errorBody(error.code, error.message, error.details), error.status);
    if (error instanceof CodecError)
      return c.json(
        errorBody('unprocessable', `undecodable tensor payload: ${error.message}`, { codec: error.code }),
        422,
      );
    if (isStoreError(error, 'not_found')) return c.json(errorBody('not_found', error.message), 404);
    if (isStoreError(error, 'conflict')) return c.json(errorBody('conflict', error.message), 409);
    if (isStoreError(error, 'too_large')) return c.json(errorBody('payload_too_large', error.message), 413);
    // A malformed percent-encoding (`GET /%`) is the client's fault, not ours.
    if (error instanceof URIError)
      return c.json(errorBody('bad_request', `malformed URL encoding: ${error.message}`), 400);
    if (error instanceof HTTPException) {
      const status = error.status;
      const code =
        status === 413
          ? 'payload_too_large'
          : status === 401
            ? 'unauthorized'
            : status === 404
              ? 'not_found'
              : 'bad_request';
      return c.json(
        errorBody(code, error.message || 'bad request'),
        status === 413 || status === 401 || status === 404 ? status : 400,
      );
    }
    log.error({ err: error, path: c.req.path }, 'unhandled error');
    return c.json(errorBody('internal', 'internal error; the coordinator logged the details'), 500);
  };
}

export const notFound: NotFoundHandler = (c) =>
  c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}; see /openapi.json`), 404);

export function measureLatency(metrics: CoordinatorMetrics): MiddlewareHandler {
  return async function measureLatency(c, next) {
    const started = performance.now();
    await next();
    metrics.httpDuration.observe(
      { method: c.req.method, route: routePath(c), status: String(c.res.status) },
      (performance.now() - started) / 1000,
    );
  };
}

/**
 * A path whose percent-encoding does not decode (`GET /%`, `/v1/apps/%E0/x`)
 * is refused with 400 before routing: otherwise it reaches routes half-decoded
 * and answers a misleading 404 or 403.
 */
export function rejectMalformedPaths(): MiddlewareHandler {
  return async (c, next) => {
    // URL keeps the path's percent-encoding as sent; only decoding can tell it is malformed.
    const raw = new URL(c.req.url).pathname;
    try {
      decodeURIComponent(raw);
    } catch {
      return c.json(
        errorBody('bad_request', `malformed percent-encoding in the path ${JSON.stringify(raw.slice(0, 200))}`),
        400,
      );
    }
    await next();
  };
}
