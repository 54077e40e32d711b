/**
 * What a first start without a cached model tells the app when the download
 * fails. "No model" only when the coordinator answered and has none; a page
 * that cannot reach it (down, wrong URL, or another origin the coordinator
 * does not allow) learns that instead, with the flag that fixes CORS.
 */
import { FlockHttpError } from './federated/transport-error.ts';
import { FlockError } from './flock-error.ts';

/**
 * @example
 * catch (e) { throw firstModelError(e, { app, url, pageOrigin: globalThis.location?.origin }); }
 */
export function firstModelError(error: unknown, where: { app: string; url: string; pageOrigin?: string }): FlockError {
  if (error instanceof FlockError) return error;
  const why = error instanceof Error ? error.message : String(error);
  const { app, url } = where;
  if (error instanceof FlockHttpError) {
    if (error.code === 'network_error' || error.code === 'timeout') {
      let coordinatorOrigin: string | null = null;
      try {
        coordinatorOrigin = new URL(url).origin;
      } catch {
        coordinatorOrigin = null;
      }
      const crossOrigin =
        where.pageOrigin !== undefined &&
        where.pageOrigin !== 'null' &&
        coordinatorOrigin !== null &&
        coordinatorOrigin !== where.pageOrigin;
      const hint = crossOrigin
        ? `; this page (${where.pageOrigin}) is on another origin than the coordinator, so the coordinator must allow it: start it with flock serve --cors-origin ${where.pageOrigin}`
        : '; check the URL and that the coordinator is running';
      return new FlockError('unreachable', `could not reach the Flock coordinator at ${url}: ${why}${hint}`, {
        cause: error,
      });
    }
    if (error.code === 'not_found') {
      return new FlockError(
        'no_model',
        `the coordinator at ${url} has no model of app "${app}" in production yet (${why}); push one with flock model push --app ${app} --stage production`,
        { cause: error },
      );
    }
    return new FlockError(
      'rejected',
      `the coordinator at ${url} refused this device for app "${app}": ${error.status} ${error.code}: ${why}`,
      { cause: error },
    );
  }
  return new FlockError(
    'no_model',
    `no model of app "${app}" is cached on this device and none could be fetched from ${url}: ${why}`,
    { cause: error },
  );
}

/** How long a first start without a cached model waits for one (default of `connectTimeoutMs`). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 60_000;

/** The first download, bounded: the transport's retries alone may take minutes against a dead host. */
export async function firstDownload(update: () => Promise<unknown>, timeoutMs: number, url: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new FlockHttpError(0, 'timeout', `no model arrived within connectTimeoutMs (${timeoutMs} ms) from ${url}`),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([update(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
