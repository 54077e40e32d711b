/**
 * Round signals across processes through PostgreSQL LISTEN/NOTIFY on the
 * channel 'flock_rounds'. One dedicated connection listens (a pooled one
 * would lose its LISTEN when returned); it reconnects after an error, and
 * signals sent while it was down are simply missed, which the closer's
 * timeout and storage fallback absorb.
 */
import pg from 'pg';
import { parseRoundSignal, type RoundSignal, type RoundSignals } from './round-signals.ts';

export const ROUND_SIGNAL_CHANNEL = 'flock_rounds';

export interface PostgresRoundSignalsOptions {
  connectionString: string;
  /** Channel name; 'flock_rounds' by default (tests may isolate themselves). */
  channel?: string;
  /** Delay before reconnecting a lost listener; 1 s by default. */
  reconnectMs?: number;
  /** Told about connection losses (they are not fatal). */
  onError?: (error: Error) => void;
}

/**
 * Connects and LISTENs; resolves once signals flow.
 *
 * @example
 * const signals = await openPostgresRoundSignals({ connectionString: url });
 * const rounds = new RoundService({ ...deps, signals });
 * // on shutdown: await rounds.stop(); await signals.close();
 */
export async function openPostgresRoundSignals(options: PostgresRoundSignalsOptions): Promise<RoundSignals> {
  const channel = options.channel ?? ROUND_SIGNAL_CHANNEL;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel))
    throw new Error(`round signal channel must be a lowercase SQL identifier, got ${JSON.stringify(channel)}`);
  const handlers = new Set<(signal: RoundSignal) => void>();
  let client: pg.Client | null = null;
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | null = null;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: options.connectionString, application_name: 'flock-rounds-listener' });
    c.on('notification', (n) => {
      if (n.channel !== channel || !n.payload) return;
      let signal: RoundSignal | null = null;
      try {
        signal = parseRoundSignal(JSON.parse(n.payload));
      } catch {
        signal = null;
      }
      if (signal) for (const h of [...handlers]) h(signal);
    });
    c.on('error', (error) => {
      options.onError?.(error);
      if (client === c) client = null;
      c.end().catch(() => undefined);
      if (!closed && !retry) {
        retry = setTimeout(() => {
          retry = null;
          if (!closed) connect().catch((e: Error) => options.onError?.(e));
        }, options.reconnectMs ?? 1000);
        retry.unref?.();
      }
    });
    await c.connect();
    await c.query(`listen ${channel}`);
    if (closed) {
      await c.end();
      return;
    }
    client = c;
  };
  await connect();

  return {
    async publish(signal) {
      if (closed) throw new Error('round signals are closed; open new ones');
      if (!client) throw new Error('the round signal connection is down; it reconnects by itself');
      await client.query('select pg_notify($1, $2)', [channel, JSON.stringify(signal)]);
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      handlers.clear();
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}
