/**
 * Validation at the boundary: parse an untrusted value against a message
 * schema and get either the typed message or a ready-to-send error body.
 * Invalid input is always answered, never silently dropped.
 */
import { z } from 'zod';
import { errorBody, type ErrorBody } from './errors.ts';
import { UPDATE_META_MAX_CHARS, UpdateMetaSchema, type UpdateMeta } from './updates.ts';

/** The outcome of `parseMessage`: the parsed message, or a 'validation_failed' error body. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ErrorBody };

/** One problem found, addressed by a dotted path such as `plan.strategy.momentum`. */
export type ValidationIssue = { path: string; message: string };

function describeIssues(issues: readonly z.core.$ZodIssue[]): ValidationIssue[] {
  return issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

/**
 * Parses `value` with `schema`. On failure the error body lists every issue in
 * `details.issues` and its message names the first one.
 *
 * @example
 * const r = parseMessage(CheckInRequestSchema, await c.req.json());
 * if (!r.ok) return c.json(r.error, ERROR_STATUS[r.error.error.code]);
 * r.value.numExamples // typed
 */
export function parseMessage<S extends z.ZodType>(schema: S, value: unknown): ParseResult<z.output<S>> {
  const result = schema.safeParse(value);
  return result.success ? { ok: true, value: result.data } : { ok: false, error: validationErrorBody(result.error) };
}

/**
 * Turns a zod error into the shared 'validation_failed' body: every issue in
 * `details.issues`, the first one named in the message. For validators that
 * hand you the ZodError themselves (e.g. the `defaultHook` of @hono/zod-openapi).
 *
 * @example
 * new OpenAPIHono({ defaultHook: (r, c) => (r.success ? undefined : c.json(validationErrorBody(r.error), 400)) });
 */
export function validationErrorBody(error: z.ZodError): ErrorBody {
  const issues = describeIssues(error.issues);
  const first = issues[0];
  const where = first && first.path !== '' ? `${first.path}: ` : '';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : '';
  return errorBody('validation_failed', `${where}${first?.message ?? 'invalid message'}${more}`, { issues });
}

/**
 * Parses the `flock-update-meta` header value (JSON) into `UpdateMeta`.
 *
 * @example
 * const r = parseUpdateMetaHeader(c.req.header(UPDATE_META_HEADER));
 * if (!r.ok) return c.json(r.error, 400);
 */
export function parseUpdateMetaHeader(header: string | null | undefined): ParseResult<UpdateMeta> {
  if (header === null || header === undefined || header === '') {
    return { ok: false, error: errorBody('bad_request', 'missing the flock-update-meta header (JSON UpdateMeta)') };
  }
  if (header.length > UPDATE_META_MAX_CHARS) {
    return {
      ok: false,
      error: errorBody(
        'bad_request',
        `flock-update-meta is ${header.length} chars; the limit is ${UPDATE_META_MAX_CHARS}`,
      ),
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(header);
  } catch {
    return { ok: false, error: errorBody('bad_request', 'flock-update-meta is not valid JSON') };
  }
  return parseMessage(UpdateMetaSchema, json);
}
