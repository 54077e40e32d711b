/**
 * Manifest change fan-out across coordinator processes on one PostgreSQL:
 * LISTEN/NOTIFY on a channel (`flock_manifest`) behind the `ManifestEvents`
 * interface, so an SSE client connected to any process hears a change made on
 * any other within a round trip instead of at its next heartbeat.
 *
 * Connections: one dedicated `pg.Client` per process, which LISTENs and also
 * sends the NOTIFYs (`select pg_notify($1, $2)`, parameterized). Publishing on
 * the listener costs no connection beyond the "one listener each" of the
 * connection budget, and one session sends this process's notifications in
 * publish order. The price: while the listener is down, NOTIFYs cannot go out;
 * they are kept (the newest change per app) and sent after the reconnect.
 *
 * Payloads are small JSON, `{origin, app, generation, reason}` (reason cut to
 * 200 characters), far below PostgreSQL's 8000-byte limit; they only say
 * "re-read app X": the store stays the one source of truth.
 *
 * Losses are bounded, never silent: a failed NOTIFY is logged and retried
 * after the next reconnect, and notifications sent while this process's
 * listener was disconnected are lost by PostgreSQL's design, so after every
 * reconnect each app with local subscribers gets a synthetic `resync` change
 * (the SSE route then re-reads the manifest from the store). Whatever still
 * slips through (e.g. a process that dies between its write and its NOTIFY)
 * is caught by the SSE route's heartbeat re-check.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../observability/logger.ts';
import { redactConnectionString } from '../store/postgres-store.ts';
import type { ManifestChange, ManifestEvents } from './manifest-events.ts';

export const DEFAULT_MANIFEST_CHANNEL = 'flock_manifest';
/** Longest reason sent in a notification; the rest is cut (it is for logs only). */
export const MAX_NOTIFY_REASON_CHARS = 200;
/** Largest payload this module sends; PostgreSQL refuses 8000 bytes and more. */
export const MAX_NOTIFY_PAYLOAD_BYTES = 4000;

export interface PostgresManifestEventsOptions {
  connectionString: string;
  log?: Logger;
  /** LISTEN/NOTIFY channel; every process of one deployment must use the same. Lowercase identifier. */
  channel?: string;
  /** Prefix of the listener's application_name in pg_stat_activity (`<prefix>-listen`); 'flock' by default. */
  applicationName?: string;
  /** Reconnect backoff: first delay and cap, in ms (250 and 10 000 by default), with ±20% jitter. */
  reconnect?: { initialMs?: number; maxMs?: number };
}

export interface PostgresManifestEvents extends ManifestEvents {
  /** This process's id in payloads; its own notifications are not delivered twice. */
  readonly origin: string;
  /** The listener's application_name, as pg_stat_activity shows it. */
  readonly listenerName: string;
  /** Unlistens, ends the connection and stops reconnecting. Idempotent. */
  close(): Promise<void>;
}

interface NotifyPayload extends ManifestChange {
  origin: string;
}

/** The payload if it is one of ours, else null (anyone may NOTIFY anything on the channel). */
function parsePayload(text: string | undefined): NotifyPayload | null {
  if (!text) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.origin !== 'string' || typeof v.app !== 'string' || v.app === '' || typeof v.reason !== 'string')
    return null;
  if (typeof v.generation !== 'number' || !Number.isInteger(v.generation)) return null;
  return { origin: v.origin, app: v.app, generation: v.generation, reason: v.reason };
}

/**
 * Opens the listener (rejects if PostgreSQL cannot be reached at all) and
 * returns the fan-out; pass it to `createCoordinator({ events })` and close it
 * after the coordinator.
 *
 * @example
 * ```ts
 * const events = await openPostgresManifestEvents({ connectionString: process.env.FLOCK_DATABASE_URL!, log });
 * const flock = await createCoordinator({ dataDir, store, events });
 * // ...
 * await flock.close(); await events.close();
 * ```
 */
export async function openPostgresManifestEvents(
  options: PostgresManifestEventsOptions,
): Promise<PostgresManifestEvents> {
  const channel = options.channel ?? DEFAULT_MANIFEST_CHANNEL;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) {
    throw new Error(
      `channel must be a lowercase identifier of at most 63 characters ([a-z_][a-z0-9_]*), got "${channel}"`,
    );
  }
  const log = options.log;
  const where = redactConnectionString(options.connectionString);
  const origin = randomUUID();
  const listenerName = `${options.applicationName ?? 'flock'}-listen`;
  const initialMs = options.reconnect?.initialMs ?? 250;
  const maxMs = Math.max(initialMs, options.reconnect?.maxMs ?? 10_000);

  const local = new EventEmitter();
  // One listener per open SSE connection: thousands are normal, not a leak.
  local.setMaxListeners(0);
  const subscribed = new Map<string, number>();
  const lastGeneration = new Map<string, number>();
  // NOTIFYs that could not be sent: the newest change per app, re-sent after a reconnect.
  const unsent = new Map<string, ManifestChange>();

  let client: pg.Client | null = null;
  let closed = false;
  let attempt = 0;
  let retryTimer: NodeJS.Timeout | null = null;
  let connecting: Promise<void> | null = null;

  const deliver = (change: ManifestChange) => {
    for (const listener of local.listeners(`app:${change.app}`) as Array<(c: ManifestChange) => void>) {
      try {
        listener(change);
      } catch (error) {
        log?.error({ err: error, app: change.app }, 'manifest event listener threw');
      }
    }
  };

  const onNotification = (msg: pg.Notification) => {
    if (msg.channel !== channel) return;
    const payload = parsePayload(msg.payload);
    if (!payload) {
      log?.debug(
        { channel, payload: msg.payload?.slice(0, 200) },
        'ignored a notification that is not a manifest change',
      );
      return;
    }
    // PostgreSQL delivers our own NOTIFYs back to us; publish already delivered them locally.
    if (payload.origin === origin) return;
    lastGeneration.set(payload.app, Math.max(payload.generation, lastGeneration.get(payload.app) ?? 0));
    deliver({ app: payload.app, generation: payload.generation, reason: payload.reason });
  };

  const payloadOf = (change: ManifestChange): string | null => {
    const text = JSON.stringify({
      origin,
      app: change.app,
      generation: change.generation,
      reason: change.reason.slice(0, MAX_NOTIFY_REASON_CHARS),
    });
    return Buffer.byteLength(text) <= MAX_NOTIFY_PAYLOAD_BYTES ? text : null;
  };

  const notify = (change: ManifestChange) => {
    const payload = payloadOf(change);
    if (payload === null) {
      log?.warn(
        { app: change.app.slice(0, 100) },
        'manifest change too large to NOTIFY; other processes catch it at their SSE heartbeat',
      );
      return;
    }
    const c = client;
    if (!c) {
      unsent.set(change.app, change);
      return;
    }
    c.query('select pg_notify($1, $2)', [channel, payload]).catch((error: unknown) => {
      if (closed) return;
      unsent.set(change.app, change);
      log?.warn(
        { err: error, app: change.app },
        'manifest NOTIFY failed; it is re-sent after the listener reconnects (other processes catch up at their SSE heartbeat meanwhile)',
      );
    });
  };

  // Called once per lost or failed connection, never while a connect is under way.
  const scheduleReconnect = () => {
    if (closed || retryTimer) return;
    const base = Math.min(maxMs, initialMs * 2 ** attempt);
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    attempt++;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connecting = connect(true)
        .catch((error: unknown) => {
          log?.error({ err: error }, 'manifest listener reconnect failed unexpectedly');
        })
        .finally(() => {
          connecting = null;
        });
    }, delay);
  };

  const connect = async (isReconnect: boolean): Promise<void> => {
    const c = new pg.Client({
      connectionString: options.connectionString,
      application_name: listenerName,
      connectionTimeoutMillis: 10_000,
      // A listener that never queries would not notice a silently dead peer without keepalives.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // Only an established listener reconnects on loss; a failing connect is handled by its catch below.
    let established = false;
    const onLost = (error?: Error) => {
      if (!established) return;
      established = false;
      if (client === c) client = null;
      if (closed) return;
      log?.warn({ err: error, channel }, 'manifest listener lost its PostgreSQL connection; reconnecting');
      scheduleReconnect();
    };
    c.on('error', onLost);
    c.on('end', () => onLost());
    c.on('notification', onNotification);
    try {
      await c.connect();
      await c.query(`listen "${channel}"`);
    } catch (error) {
      await c.end().catch(() => undefined);
      if (!isReconnect) throw error;
      if (!closed) {
        log?.warn({ err: error, attempt }, 'manifest listener could not reconnect yet');
        scheduleReconnect();
      }
      return;
    }
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    established = true;
    attempt = 0;
    if (!isReconnect) return;
    log?.info({ channel, apps: subscribed.size }, 'manifest listener reconnected; resyncing subscribed apps');
    // Notifications sent while we were away are gone: have every local subscriber re-read the store.
    for (const app of subscribed.keys()) deliver({ app, generation: lastGeneration.get(app) ?? 0, reason: 'resync' });
    const pending = [...unsent.values()];
    unsent.clear();
    for (const change of pending) notify(change);
  };

  try {
    await connect(false);
  } catch (error) {
    throw new Error(
      `Could not LISTEN for manifest changes at ${where}: ${(error as Error).message}. Check that the server is up and the URL is right.`,
      { cause: error },
    );
  }

  return {
    origin,
    listenerName,
    publish(change) {
      if (closed) return;
      lastGeneration.set(change.app, Math.max(change.generation, lastGeneration.get(change.app) ?? 0));
      deliver(change);
      notify(change);
    },
    subscribe(app, listener) {
      local.on(`app:${app}`, listener);
      subscribed.set(app, (subscribed.get(app) ?? 0) + 1);
      let done = false;
      return () => {
        if (done) return;
        done = true;
        local.off(`app:${app}`, listener);
        const left = (subscribed.get(app) ?? 1) - 1;
        if (left > 0) subscribed.set(app, left);
        else subscribed.delete(app);
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      await connecting?.catch(() => undefined);
      const c = client;
      client = null;
      if (!c) return;
      await c.query(`unlisten "${channel}"`).catch(() => undefined);
      await c.end().catch(() => undefined);
    },
  };
}
