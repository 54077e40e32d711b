/**
 * The rollout service's timers: every `intervalMs` it evaluates all running
 * rollouts (one pass at a time; a slow pass is not stacked on), and, when a
 * retention is set, it deletes old telemetry every `sweepMs`. Both timers are
 * unref'd, so they never keep a process alive, and `stop()` waits for a pass
 * in flight.
 */
import type { Logger } from '../observability/logger.ts';
import type { Store } from '../store/index.ts';

export interface RolloutScheduleOptions {
  intervalMs: number;
  /** One evaluation pass; must not throw (RolloutService.evaluateAll logs per rollout). */
  evaluateAll: () => Promise<void>;
  /** Telemetry older than this is deleted by the sweep; 0 keeps it forever. */
  telemetryRetentionMs: number;
  sweepMs: number;
  sweep: () => Promise<number>;
  log: Logger;
}

export class RolloutSchedule {
  private timer: NodeJS.Timeout | null = null;
  private retentionTimer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private sweeping: Promise<unknown> | null = null;

  constructor(private readonly o: RolloutScheduleOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.ticking) this.ticking = this.o.evaluateAll().finally(() => (this.ticking = null));
    }, this.o.intervalMs);
    this.timer.unref();
    if (this.o.telemetryRetentionMs > 0) {
      this.retentionTimer = setInterval(() => {
        if (!this.sweeping)
          this.sweeping = this.o
            .sweep()
            .catch((error: unknown) => this.o.log.error({ err: error }, 'telemetry retention sweep failed'))
            .finally(() => (this.sweeping = null));
      }, this.o.sweepMs);
      this.retentionTimer.unref();
    }
  }

  /** Clears both timers and waits for the sweep and the evaluation pass in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    await this.sweeping;
    await this.ticking;
  }
}

/**
 * Retention: deletes telemetry older than `retentionMs` before `now`; returns the rows deleted.
 * @example
 * await sweepTelemetry(store, log, 7 * 86_400_000, () => new Date()); // e.g. 120000
 */
export async function sweepTelemetry(store: Store, log: Logger, retentionMs: number, now: () => Date): Promise<number> {
  if (!(retentionMs > 0)) return 0;
  const deleted = await store.deleteTelemetryBefore(new Date(now().getTime() - retentionMs).toISOString());
  if (deleted > 0) log.info({ deleted, retentionMs }, 'old telemetry deleted');
  return deleted;
}
