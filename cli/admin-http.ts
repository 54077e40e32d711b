/**
 * The admin commands' edge: where the coordinator is (`--url` / FLOCK_URL),
 * who we are (`--admin-key` / FLOCK_ADMIN_KEY), one typed request function
 * that turns the API's error shape into a one-line message, and the plain
 * text tables the commands print.
 *
 * Answers are parsed with the protocol's zod schemas, so a coordinator of
 * another version fails loudly here instead of printing "undefined" columns.
 * This file imports no schema at load time (zod alone takes longer to load
 * than `flock --help` should), so every command can use its flags.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
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
export class AdminApiError extends Error {
  override name = 'AdminApiError';
  constructor(
    message: string,
    /** The API's error code (`unauthorized`, `not_found`, ...), or `unreachable` / `bad_answer`. */
    readonly code: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

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
  method: 'GET' | 'POST';
  /** Path under the base URL, e.g. `/v1/admin/tasks`; callers encode path segments. */
  path: string;
  /** Parses the success answer. */
  schema: S;
  json?: unknown;
  form?: FormData;
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

async function failureMessage(
  conn: AdminConnection,
  status: number,
  body: unknown,
  text: string,
): Promise<AdminApiError> {
  const { isErrorBody } = await import('../shared/protocol/errors.ts');
  if (isErrorBody(body)) {
    const { code, message } = body.error;
    const hint =
      code === 'unauthorized'
        ? '; check --admin-key / FLOCK_ADMIN_KEY against the key the coordinator accepts'
        : code === 'forbidden'
          ? '; admin commands need an admin key (flk_admin_...), not a device token'
          : '';
    return new AdminApiError(`${code}: ${message}${hint}`, code, status);
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new AdminApiError(
    `HTTP ${status} from ${conn.baseUrl}${snippet ? `: ${snippet}` : ''} (is this a flock coordinator?)`,
    'bad_answer',
    status,
  );
}

/**
 * Sends one admin request and returns the parsed answer.
 * @throws AdminApiError for error answers, unreachable coordinators and timeouts.
 *
 * @example
 * const { versions } = await adminRequest(conn, { method: 'GET', path: '/v1/admin/models/digits/versions', schema: ModelVersionListSchema });
 */
export async function adminRequest<S extends z.ZodType>(
  conn: AdminConnection,
  request: AdminRequest<S>,
): Promise<z.output<S>> {
  const headers: Record<string, string> = { authorization: `Bearer ${conn.adminKey}`, accept: 'application/json' };
  let body: string | FormData | undefined = request.form;
  if (request.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(request.json);
  }
  const timeoutMs = request.timeoutMs ?? 30_000;
  let res: Response;
  try {
    res = await fetch(`${conn.baseUrl}${request.path}`, {
      method: request.method,
      headers,
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'TimeoutError') {
      throw new AdminApiError(
        `no answer from ${conn.baseUrl} within ${timeoutMs / 1000} s; is the coordinator overloaded or stuck?`,
        'timeout',
        null,
      );
    }
    const code = networkCode(error);
    if (code && UNREACHABLE.has(code)) {
      throw new AdminApiError(
        `cannot reach the coordinator at ${conn.baseUrl} (${code}); start it with "flock serve" or point --url / FLOCK_URL at a running one`,
        'unreachable',
        null,
      );
    }
    // fetch's own message is only "fetch failed"; the reason (a refused port, a TLS error) is its cause.
    const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
    throw new AdminApiError(
      `request to ${conn.baseUrl} failed: ${error instanceof Error ? error.message : String(error)}${cause}`,
      'unreachable',
      null,
    );
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) throw await failureMessage(conn, res.status, parsed, text);
  const result = request.schema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : '';
    throw new AdminApiError(
      `unexpected answer from ${request.method} ${request.path}${where}: ${issue?.message ?? 'not JSON'}; are the CLI and coordinator the same version?`,
      'bad_answer',
      res.status,
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
