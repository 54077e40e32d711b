/**
 * Where a simulation's virtual clients send their traffic: a coordinator
 * started in this process on a temporary data dir (the default), or a running
 * coordinator at `--url` driven through its public and admin HTTP API only.
 * Both are used the same way, through `fetch`, so a simulation against a
 * fleet's coordinator exercises exactly the code paths real devices do.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminApiError, adminAnswer, adminClient } from '../coordinator/admin-client.ts';
import { createCoordinator } from '../coordinator/coordinator.ts';
import { createLogger } from '../coordinator/observability/logger.ts';

export interface SimulationTarget {
  /** Base URL the clients and the admin calls use. */
  readonly baseUrl: string;
  readonly fetch: typeof fetch;
  readonly adminKey: string;
  /** Where it runs, for the summary: 'in-process' or the URL. */
  readonly label: string;
  close(): Promise<void>;
}

/** A coordinator that could not be reached or refused the admin key. */
export class SimulationTargetError extends Error {
  override readonly name = 'SimulationTargetError';
}

const LOCAL_BASE = 'http://flock.local';

/**
 * A coordinator in this process, on a temporary data dir removed by close().
 * Rate limits are lifted (every virtual client registers from one "IP") and
 * the deadline sweeper is off: the simulator closes each round itself.
 * @example
 * const target = await inProcessTarget();
 * await target.fetch(`${target.baseUrl}/healthz`);
 * await target.close();
 */
export async function inProcessTarget(): Promise<SimulationTarget> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-sim-'));
  const unlimited = { limit: 1e9, windowMs: 60_000 };
  try {
    const flock = await createCoordinator({
      dataDir,
      log: createLogger({ level: 'silent' }),
      sweep: false,
      rateLimits: { registerPerIp: unlimited, perDevice: unlimited },
    });
    return {
      baseUrl: LOCAL_BASE,
      fetch: (input, init) => Promise.resolve(flock.app.fetch(new Request(input, init))),
      adminKey: flock.initialAdminKey!,
      label: 'in-process',
      close: async () => {
        await flock.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

export interface RemoteTargetOptions {
  url: string;
  adminKey: string;
  /** Told when the coordinator rate-limits us and we wait (seconds). */
  onWait?: (seconds: number, path: string) => void;
  /** Longest single wait on a 429 before giving up; 120 s by default. */
  maxWaitSeconds?: number;
}

/**
 * Requests a coordinator treats as idempotent, so safe to send again on a
 * fresh connection: reads, uploads (one update per round and device, a replay
 * gets the first receipt), check-ins (a device checking in again keeps its
 * slot), closing a round (it closes once; a second close answers the closed
 * round) and task pause / resume. Registration, model pushes and task
 * creation are not retried: each would make a second one.
 */
export function repeatable(request: Request): boolean {
  if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'PUT') return true;
  if (request.method !== 'POST') return false;
  const path = new URL(request.url).pathname;
  return (
    /^\/v1\/admin\/tasks\/[^/]+\/(pause|resume)$/.test(path) ||
    /^\/v1\/tasks\/[^/]+\/checkin$/.test(path) ||
    /^\/v1\/admin\/rounds\/[^/]+\/close$/.test(path)
  );
}

/**
 * A running coordinator. Checks that it answers /healthz and accepts the admin
 * key before any work starts. Requests refused with 429 are retried after
 * Retry-After (a coordinator's per-IP registration limit applies to all
 * virtual clients at once); every other answer is returned as is.
 * @example
 * const target = await remoteTarget({ url: 'http://127.0.0.1:8787', adminKey: process.env.FLOCK_ADMIN_KEY! });
 */
export async function remoteTarget(o: RemoteTargetOptions): Promise<SimulationTarget> {
  const baseUrl = o.url.replace(/\/+$/, '');
  const maxWait = o.maxWaitSeconds ?? 120;
  const retrying: typeof fetch = async (input, init) => {
    // A body read once cannot be sent twice: keep it as bytes for the retries.
    const request = new Request(input, init);
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : null;
    let connectionFailures = 0;
    for (;;) {
      let res: Response;
      try {
        res = await fetch(request.url, { method: request.method, headers: request.headers, ...(body ? { body } : {}) });
      } catch (error) {
        // A keep-alive connection the server closed while we evaluated (UND_ERR_SOCKET
        // "other side closed") fails the next request before it is sent: try again,
        // for requests that are safe to repeat.
        connectionFailures += 1;
        if (connectionFailures > 3 || !repeatable(request)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * connectionFailures));
        continue;
      }
      if (res.status !== 429) return res;
      const seconds = Number(res.headers.get('retry-after'));
      if (!Number.isFinite(seconds) || seconds > maxWait) return res;
      await res.arrayBuffer();
      const wait = Math.max(seconds, 0.05);
      o.onWait?.(wait, new URL(request.url).pathname);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    }
  };
  let health: Response;
  try {
    health = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new SimulationTargetError(
      `could not reach a coordinator at ${baseUrl}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`,
    );
  }
  if (!health.ok)
    throw new SimulationTargetError(`${baseUrl}/healthz answered ${health.status}; is this a Flock coordinator?`);
  await health.arrayBuffer();
  try {
    await adminAnswer(adminClient({ baseUrl, adminKey: o.adminKey }).v1.admin.tasks.$get());
  } catch (error) {
    if (!(error instanceof AdminApiError)) throw error;
    if (error.status === 401 || error.status === 403)
      throw new SimulationTargetError(
        `${baseUrl} refused the admin key (${error.status}); pass --admin-key or set FLOCK_ADMIN_KEY to one it accepts`,
      );
    throw new SimulationTargetError(
      `${baseUrl}/v1/admin/tasks answered ${error.status ?? error.code}: ${error.message}`,
    );
  }
  return { baseUrl, fetch: retrying, adminKey: o.adminKey, label: baseUrl, close: async () => undefined };
}
