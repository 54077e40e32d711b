/**
 * The one typed admin client: `hc<AppType>` with the admin key and a timeout
 * on every request, and `adminAnswer()`, which turns a typed answer into its
 * success body or one `AdminApiError` carrying the server's
 * `{ error: { code, message } }` and status. The CLI, the dashboard, the
 * simulator and the route tests all call the coordinator through it, so a
 * route's path, parameters, body and answer are checked by the compiler on
 * both sides.
 *
 * It runs in a page as well as in Node: it imports hono's client and, as
 * types only, the app (no server code, no zod).
 */
import { hc, type ClientResponse } from 'hono/client';
import type { ResponseFormat } from 'hono/types';
import type { SuccessStatusCode } from 'hono/utils/http-status';
import type { AppType } from './app.ts';

/** The typed proxy: `api.v1.admin.tasks.$get()`, `api.v1.admin.models[':app'].versions.$get({ param })`. */
export type AdminApi = ReturnType<typeof hc<AppType>>;

/** A fetch-shaped function; hc always passes a URL string. `app.request` fits too. */
export type AdminFetch = (url: string, init?: RequestInit) => Promise<Response>;

export interface AdminClientOptions {
  /** Coordinator origin, e.g. `http://127.0.0.1:8787`; `''` in a page served by the coordinator. */
  baseUrl: string;
  /** The admin key, or a function read at every request (a dashboard's key can change or be missing). */
  adminKey: string | (() => string);
  /** Defaults to the global fetch. */
  fetch?: AdminFetch;
  /** Milliseconds before a request is given up; default 30 s (a model push with a holdout check needs longer). */
  timeoutMs?: number;
}

/** `unreachable`, `timeout` and `bad_answer` are the client's own; every other code is the server's. */
export type AdminErrorCode = 'unreachable' | 'timeout' | 'bad_answer' | (string & {});

/**
 * An admin request that failed: the coordinator's error (its code, message and
 * status), no answer (`unreachable`, `timeout`; status null), or an answer that
 * is not the API's (`bad_answer`).
 *
 * @example
 * try { await adminAnswer(api.v1.admin.tasks[':id'].$get({ param: { id } })); }
 * catch (e) { if (e instanceof AdminApiError && e.status === 404) console.log('no such task'); }
 */
export class AdminApiError extends Error {
  override name = 'AdminApiError';
  constructor(
    message: string,
    readonly code: AdminErrorCode,
    readonly status: number | null,
    options: { details?: unknown; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.details = options.details;
  }
  /** The server's `error.details`, when it sent any. */
  readonly details: unknown;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * A typed client for one coordinator.
 *
 * @example
 * const api = adminClient({ baseUrl: 'http://127.0.0.1:8787', adminKey: process.env.FLOCK_ADMIN_KEY! });
 * const { tasks } = await adminAnswer(api.v1.admin.tasks.$get());
 */
export function adminClient(options: AdminClientOptions): AdminApi {
  const send = options.fetch ?? ((url, init) => fetch(url, init));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const key = typeof options.adminKey === 'function' ? options.adminKey : () => options.adminKey as string;
  const timedFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    try {
      return await send(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      if (error instanceof AdminApiError) throw error;
      if (error instanceof DOMException && error.name === 'TimeoutError')
        throw new AdminApiError(`no answer from ${options.baseUrl} within ${timeoutMs / 1000} s`, 'timeout', null, {
          cause: error,
        });
      const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      throw new AdminApiError(`cannot reach the coordinator at ${options.baseUrl} (${reason})`, 'unreachable', null, {
        cause: error,
      });
    }
  };
  return hc<AppType>(options.baseUrl, {
    fetch: timedFetch,
    headers: () => ({ authorization: `Bearer ${key()}`, accept: 'application/json' }),
  });
}

/** The JSON body of the success (2xx) members of a typed answer. */
export type SuccessBody<R> =
  R extends ClientResponse<infer T, infer S, infer F>
    ? S extends SuccessStatusCode
      ? F extends 'json'
        ? T
        : never
      : never
    : never;

/** Any typed answer of the client, before adminAnswer() reads it. */
export type AdminResponse = ClientResponse<unknown, number, ResponseFormat>;

function isErrorBody(body: unknown): body is { error: { code: string; message: string; details?: unknown } } {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const e = body.error;
  return (
    typeof e === 'object' &&
    e !== null &&
    'code' in e &&
    typeof e.code === 'string' &&
    'message' in e &&
    typeof e.message === 'string'
  );
}

/** What the answer readers use of a response: a typed client response and a fetch Response both are one. */
type AnswerResponse = Pick<Response, 'ok' | 'status' | 'url' | 'text' | 'arrayBuffer'>;

async function failure(res: AnswerResponse): Promise<AdminApiError> {
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (isErrorBody(body))
    return new AdminApiError(body.error.message, body.error.code, res.status, { details: body.error.details });
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new AdminApiError(
    `HTTP ${res.status} from ${res.url || 'the coordinator'}${snippet ? `: ${snippet}` : ''} (is this a flock coordinator?)`,
    'bad_answer',
    res.status,
  );
}

/**
 * Awaits a typed request and returns its success body.
 * @throws AdminApiError with the server's code and status, or `unreachable` / `timeout` / `bad_answer`.
 *
 * @example
 * const version = await adminAnswer(api.v1.admin.models[':app'].versions[':version'].$get({ param: { app: 'digits', version: '2' } }));
 */
export async function adminAnswer<R extends AdminResponse>(pending: Promise<R>): Promise<SuccessBody<R>> {
  const res: AnswerResponse = await pending;
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  try {
    return (text === '' ? undefined : JSON.parse(text)) as SuccessBody<R>;
  } catch (error) {
    throw new AdminApiError(`answer from ${res.url || 'the coordinator'} is not JSON`, 'bad_answer', res.status, {
      cause: error,
    });
  }
}

/**
 * Awaits a typed request for bytes (a blob download) and returns them.
 * @throws AdminApiError as adminAnswer does.
 *
 * @example
 * const bytes = await adminBytes(api.v1.blobs[':hash'].$get({ param: { hash } }));
 */
export async function adminBytes(pending: Promise<AdminResponse>): Promise<Uint8Array> {
  const res: AnswerResponse = await pending;
  if (!res.ok) throw await failure(res);
  return new Uint8Array(await res.arrayBuffer());
}
