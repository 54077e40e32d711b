/**
 * Signals between coordinator processes about closing rounds: the elected
 * closer asks everyone to flush their partial sum of a round ('flush'), and a
 * process that stored its partial says so ('flushed'), so the closer wakes up
 * without polling the database tightly. Signals are hints, never the truth:
 * a lost one only costs the closer its wait (it then reads the missing
 * updates from storage), so delivery is best effort.
 *
 * `inProcessRoundSignals()` connects the services of one process (tests, or
 * one process with several services); `openPostgresRoundSignals` connects
 * processes through LISTEN/NOTIFY.
 */

/** One message on the rounds channel. */
export type RoundSignal =
  | { type: 'flush'; roundId: string; from: string }
  | { type: 'flushed'; roundId: string; processId: string };

export interface RoundSignals {
  /** Sends to every subscriber, this process's included (they ignore their own). */
  publish(signal: RoundSignal): Promise<void>;
  /** Calls `handler` for every signal until the returned function is called. */
  subscribe(handler: (signal: RoundSignal) => void): () => void;
  /** Stops delivering; publish throws afterwards. */
  close(): Promise<void>;
}

/** Checks a decoded payload from the wire; returns null for anything malformed. */
export function parseRoundSignal(value: unknown): RoundSignal | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.roundId !== 'string' || v.roundId.length === 0) return null;
  if (v.type === 'flush' && typeof v.from === 'string') return { type: 'flush', roundId: v.roundId, from: v.from };
  if (v.type === 'flushed' && typeof v.processId === 'string')
    return { type: 'flushed', roundId: v.roundId, processId: v.processId };
  return null;
}

/**
 * Signals within one process: share one instance between RoundServices.
 *
 * @example
 * const signals = inProcessRoundSignals();
 * const a = new RoundService({ ...deps, signals, processId: 'a' });
 * const b = new RoundService({ ...deps, signals, processId: 'b' });
 */
export function inProcessRoundSignals(): RoundSignals {
  const handlers = new Set<(signal: RoundSignal) => void>();
  let closed = false;
  return {
    async publish(signal) {
      if (closed) throw new Error('round signals are closed; open new ones');
      // Delivered on a later tick, as a network would: a publisher never runs a handler inside its own call.
      for (const h of [...handlers]) setImmediate(() => h(signal));
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    async close() {
      closed = true;
      handlers.clear();
    },
  };
}
