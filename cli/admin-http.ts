/**
 * The admin commands' edge: where the coordinator is (`--url` / FLOCK_URL),
 * who we are (`--admin-key` / FLOCK_ADMIN_KEY), one request function over the
 * typed admin client (coordinator/admin-client.ts) that turns its errors into
 * one-line messages with what to do, and the plain text tables the commands print.
 *
 * Answers are parsed with the protocol's zod schemas, so a coordinator of
 * another version fails loudly here instead of printing "undefined" columns.
 * This file imports no schema at load time (zod alone takes longer to load
 * than `flock --help` should), so every command can use its flags.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import {
  AdminApiError,
  adminAnswer,
  adminClient,
  type AdminApi,
  type AdminResponse,
} from '../coordinator/admin-client.ts';
import { UsageError } from './usage-error.ts';

export const DEFAULT_COORDINATOR_URL = 'http://127.0.0.1:8787';

/** Where and as whom the admin commands talk. */
export interface AdminConnection {
  baseUrl: string;
  adminKey: string;
}

/** The connection flags every admin command accepts. */
export interface ConnectionFlags {
  url?: string;
  adminKey?: string;
}

/** A request the coordinator answered with an error, or could not be made. Exit code 1. */
export { AdminApiError };

/**
 * Adds `--url` and `--admin-key` to a command.
 *
 * @example
 * withConnectionOptions(model.command('list')).action(async (flags) => connect(flags));
 */
export function withConnectionOptions(command: Command): Command {
  return command
    .option('--url <url>', `coordinator base URL (env FLOCK_URL, default ${DEFAULT_COORDINATOR_URL})`)
    .option('--admin-key <key>', 'admin key (env FLOCK_ADMIN_KEY)');
}

/**
 * Resolves the connection from flags, then the environment, then defaults.
 * @throws UsageError without an admin key or with a URL that does not parse.
 *
 * @example
 * const conn = resolveConnection({ url: 'http://127.0.0.1:8787' }, { FLOCK_ADMIN_KEY: key });
 */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): AdminConnection {
  const raw = flags.url || env.FLOCK_URL || DEFAULT_COORDINATOR_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url must be an http(s) URL such as ${DEFAULT_COORDINATOR_URL}, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url must be an http(s) URL such as ${DEFAULT_COORDINATOR_URL}, got "${raw}"`);
  }
  const adminKey = flags.adminKey || env.FLOCK_ADMIN_KEY;
  if (!adminKey) {
    throw new UsageError(
      'no admin key: pass --admin-key or set FLOCK_ADMIN_KEY (the key "flock serve" printed on first start, or one made with "flock admin-key" and given to the server)',
    );
  }
  return { baseUrl: url.href.replace(/\/+$/, ''), adminKey };
}

export interface AdminRequest<S extends z.ZodType> {
  /** The typed call, e.g. `(api) => api.v1.admin.tasks.$get()`; callers encode path parameters. */
  call: (api: AdminApi) => Promise<AdminResponse>;
  /** Parses the success answer. */
  schema: S;
  /** Milliseconds before giving up; uploads with a holdout check need longer. */
  timeoutMs?: number;
}

// Node's fetch hides the socket error a level or two down in `cause`.
function networkCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    if (typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
    if (e instanceof AggregateError && e.errors.length > 0) e = e.errors[0];
    else e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ECONNRESET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** The admin client's error, said for a terminal: what to check or run next. */
function explain(conn: AdminConnection, error: AdminApiError, timeoutMs: number): AdminApiError {
  if (error.code === 'timeout')
    return new AdminApiError(
      `no answer from ${conn.baseUrl} within ${timeoutMs / 1000} s; is the coordinator overloaded or stuck?`,
      'timeout',
      null,
    );
  if (error.code === 'unreachable') {
    const code = networkCode(error.cause);
    if (code && UNREACHABLE.has(code))
      return new AdminApiError(
        `cannot reach the coordinator at ${conn.baseUrl} (${code}); start it with "flock serve" or point --url / FLOCK_URL at a running one`,
        'unreachable',
        null,
      );
    // fetch's own message is only "fetch failed"; the reason (a refused port, a TLS error) is its cause.
    const raw = error.cause;
    const cause = raw instanceof Error && raw.cause instanceof Error ? ` (${raw.cause.message})` : '';
    return new AdminApiError(
      `request to ${conn.baseUrl} failed: ${raw instanceof Error ? raw.message : String(raw)}${cause}`,
      'unreachable',
      null,
    );
  }
  if (error.code === 'bad_answer' || error.status === null) return error;
  const hint =
    error.code === 'unauthorized'
      ? '; check --admin-key / FLOCK_ADMIN_KEY against the key the coordinator accepts'
      : error.code === 'forbidden'
        ? '; admin commands need an admin key (flk_admin_...), not a device token'
        : '';
  return new AdminApiError(`${error.code}: ${error.message}${hint}`, error.code, error.status, {
    details: error.details,
  });
}

/**
 * Sends one typed admin request (coordinator/admin-client.ts) and returns the answer parsed by `schema`.
 * @throws AdminApiError for error answers, unreachable coordinators and timeouts.
 *
 * @example
 * const { versions } = await adminRequest(conn, {
 *   call: (api) => api.v1.admin.models[':app'].versions.$get({ param: { app: 'digits' } }),
 *   schema: ModelVersionListSchema,
 * });
 */
export async function adminRequest<S extends z.ZodType>(
  conn: AdminConnection,
  request: AdminRequest<S>,
): Promise<z.output<S>> {
  const timeoutMs = request.timeoutMs ?? 30_000;
  let sent = '';
  const api = adminClient({
    baseUrl: conn.baseUrl,
    adminKey: conn.adminKey,
    timeoutMs,
    fetch: (url, init) => {
      sent = `${init?.method ?? 'GET'} ${url.slice(conn.baseUrl.length)}`;
      return fetch(url, init);
    },
  });
  let answer: unknown;
  try {
    answer = await adminAnswer(request.call(api));
  } catch (error) {
    throw error instanceof AdminApiError ? explain(conn, error, timeoutMs) : error;
  }
  const result = request.schema.safeParse(answer);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : '';
    throw new AdminApiError(
      `unexpected answer from ${sent}${where}: ${issue?.message ?? 'not JSON'}; are the CLI and coordinator the same version?`,
      'bad_answer',
      200,
    );
  }
  return result.data;
}

/**
 * Lays rows out as left-aligned columns under a header.
 *
 * @example
 * renderTable(['version', 'stage'], [['1', 'production']])
 * // 'version  stage\n1        production\n'
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[headers, ...rows].map(line).join('\n')}\n`;
}

/**
 * Human byte counts in powers of 1024.
 *
 * @example
 * formatBytes(104_000) // '101.6 KiB'
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** `null` as a dash, numbers compactly, for table cells. */
export function cell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  return value;
}
