/**
 * This process among several on one database (PostgreSQL with round
 * signals): its heartbeat, the partial sums it hands to a closing process
 * when asked (round_partials), and, when it closes a round itself, the
 * partials it collects from the live others. See closing-partials.ts for the
 * crash model of the exchange.
 *
 * Exists only when the coordinator is given round signals: a process alone
 * on its store has nobody to exchange with.
 */
import type { Logger } from '../observability/logger.ts';
import type { RoundPartial, Store } from '../store/index.ts';
import { collectPartials, deletePartialBlobs, writePartial } from './closing-partials.ts';
import type { RoundFolds } from './round-folds.ts';
import type { RoundSignal, RoundSignals } from './round-signals.ts';

export interface PartialExchangeOptions {
  store: Store;
  log: Logger;
  signals: RoundSignals;
  /** This process's sums: a flush takes the round's sum out of them. */
  folds: RoundFolds;
  processId: string;
  /** True while this process closes the round itself (it folds its own sum in directly). */
  isClosing(roundId: string): boolean;
  now(): number;
  /** How long a closer waits for the live processes' partials. */
  flushWaitMs: number;
  /** A process whose heartbeat is older than this is dead. */
  liveWindowMs: number;
}

export class PartialExchange {
  /** Rounds whose partial this process flushed: it folds nothing more into them. */
  private readonly flushed = new Set<string>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private unsubscribe: (() => void) | null;

  constructor(private readonly o: PartialExchangeOptions) {
    this.unsubscribe = o.signals.subscribe((signal) => this.onSignal(signal));
  }

  private onSignal(signal: RoundSignal): void {
    if (signal.type === 'flushed') {
      for (const wake of this.waiters.get(signal.roundId) ?? []) wake();
      return;
    }
    // Our own request, or a round this process is closing itself.
    if (signal.from === this.o.processId || this.o.isClosing(signal.roundId)) return;
    this.flush(signal.roundId).catch((err) =>
      this.o.log.error(
        { err, round: signal.roundId },
        'flushing a partial sum failed; the closer reads those updates from storage',
      ),
    );
  }

  /** True once this process handed over its partial of the round: later updates go to the closer through storage. */
  hasFlushed(roundId: string): boolean {
    return this.flushed.has(roundId);
  }

  /**
   * Writes this process's partial sum of a closing round to round_partials
   * (an empty one when it folded nothing) and stops folding into that round.
   */
  async flush(roundId: string): Promise<void> {
    if (this.flushed.has(roundId)) return;
    this.flushed.add(roundId);
    // Taken synchronously, before any await: folding is synchronous too, so the
    // sum and the device set below describe exactly the same updates. An update
    // recorded just before the round turned 'closing' whose fold runs after
    // this point is skipped (the round is in `flushed`) and is in no partial,
    // so the closer reads it from storage: late, never lost or doubled.
    const fold = this.o.folds.take(roundId);
    await writePartial({
      store: this.o.store,
      log: this.o.log,
      roundId,
      processId: this.o.processId,
      accumulator: fold?.accumulator ?? null,
      devices: fold?.folded ?? new Set(),
    });
    await this.o.signals.publish({ type: 'flushed', roundId, processId: this.o.processId }).catch(() => undefined);
  }

  /** The sweep's share: a heartbeat, and the partials of finished rounds (flushed too late, or their closer crashed). */
  async sweep(): Promise<void> {
    await this.o.store.heartbeatProcess(this.o.processId);
    await deletePartialBlobs(this.o.store, await this.o.store.pruneRoundPartials());
  }

  /** Forgets the flushes of rounds that are finished (or gone). */
  async forgetFinished(): Promise<void> {
    for (const id of this.flushed) {
      const round = await this.o.store.getRound(id);
      if (!round || round.status === 'closed' || round.status === 'failed') this.flushed.delete(id);
    }
  }

  /** As the closer: asks the live others to flush and returns the partials there are after waiting for them. */
  collect(roundId: string): Promise<RoundPartial[]> {
    return collectPartials({
      store: this.o.store,
      signals: this.o.signals,
      roundId,
      processId: this.o.processId,
      waiters: this.waiters,
      liveSince: new Date(this.o.now() - this.o.liveWindowMs).toISOString(),
      waitMs: this.o.flushWaitMs,
    });
  }

  /** As the closer, after the round closed: its partials are no longer needed. */
  async discard(roundId: string): Promise<void> {
    try {
      await deletePartialBlobs(this.o.store, await this.o.store.deleteRoundPartials(roundId));
    } catch (err) {
      this.o.log.warn({ err, round: roundId }, 'could not delete the round partials; the sweeper retries');
    }
  }

  /** Stops answering flush requests (first on stop, before closes in flight are awaited). */
  stopListening(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Removes this process's heartbeat, so closers stop waiting for it at once (else until it goes stale). */
  async leave(): Promise<void> {
    await this.o.store
      .removeProcess(this.o.processId)
      .catch((err) => this.o.log.warn({ err }, 'could not remove the process heartbeat'));
  }
}
