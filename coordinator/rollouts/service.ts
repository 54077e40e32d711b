/**
 * The rollout service: starts rollouts, evaluates them on a timer (and on
 * demand), and applies what `decideNext` says: advance a stage, promote the
 * candidate to production, roll back, or halt. Operators pause, resume,
 * promote and abort through the same class. Every transition is audited and
 * announced on `events`, and all state lives in the store, so a restarted
 * coordinator carries on where the last one stopped.
 *
 * This class only wires the parts together and serialises the work on each
 * rollout within this process; the parts are plain functions:
 * start-rollout.ts (start), evaluate-rollout.ts (evidence -> decision ->
 * transition), apply-action.ts (the transitions themselves, guarded by the
 * status and stage the decision was drawn from, so two processes deciding
 * the same advance cannot both apply it), operator-actions.ts,
 * rollout-schedule.ts (the timers), shadow-serving.ts and bandit-preview.ts
 * (reads). rollout-transition.ts says why each transition is one commit.
 */
import type { SigningKey } from '../auth/bootstrap.ts';
import type { Logger } from '../observability/logger.ts';
import type { Rollout, Store } from '../store/index.ts';
import { seededRng, type Rng } from './bandit.ts';
import { banditPreview, type BanditPreview } from './bandit-preview.ts';
import { evaluateRollout, type Evaluation } from './evaluate-rollout.ts';
import type { ManifestEvents } from './manifest-events.ts';
import { abortRollout, pauseRollout, promoteRollout, resumeRollout } from './operator-actions.ts';
import { PerRolloutQueue } from './per-rollout-queue.ts';
import { DEFAULT_EVALUATE_INTERVAL_MS } from './rollout-defaults.ts';
import { RolloutSchedule, sweepTelemetry } from './rollout-schedule.ts';
import type { RolloutContext } from './rollout-transition.ts';
import { rolloutShadowReport, shadowForDevice, type DeviceShadow } from './shadow-serving.ts';
import type { ShadowReport } from './shadow.ts';
import { startRollout, type StartRollout } from './start-rollout.ts';

export {
  DEFAULT_EVALUATE_INTERVAL_MS,
  DEFAULT_MIN_SAMPLES,
  DEFAULT_MIN_STAGE_SECONDS,
  DEFAULT_STAGES,
} from './rollout-defaults.ts';
export type { BanditPreview, DeviceShadow, Evaluation, StartRollout };

export interface RolloutServiceOptions {
  store: Store;
  signing: SigningKey;
  log: Logger;
  events: ManifestEvents;
  intervalMs?: number;
  now?: () => Date;
  /** Telemetry older than this is deleted by the retention sweep; 0 or absent keeps it forever. */
  telemetryRetentionMs?: number;
  /** How often the retention sweep runs (default hourly). */
  telemetrySweepMs?: number;
}

export class RolloutService {
  readonly events: ManifestEvents;
  private readonly ctx: RolloutContext;
  private readonly telemetryRetentionMs: number;
  private readonly schedule: RolloutSchedule;
  // Serializes evaluation and operator actions per rollout within this process.
  private readonly queue = new PerRolloutQueue();

  constructor(options: RolloutServiceOptions) {
    this.events = options.events;
    this.ctx = {
      store: options.store,
      signing: options.signing,
      log: options.log,
      events: options.events,
      now: options.now ?? (() => new Date()),
    };
    this.telemetryRetentionMs = options.telemetryRetentionMs ?? 0;
    this.schedule = new RolloutSchedule({
      intervalMs: options.intervalMs ?? DEFAULT_EVALUATE_INTERVAL_MS,
      evaluateAll: () => this.evaluateAll(),
      telemetryRetentionMs: this.telemetryRetentionMs,
      sweepMs: options.telemetrySweepMs ?? 3_600_000,
      sweep: () => this.sweepTelemetry(),
      log: options.log,
    });
  }

  /** Starts the evaluation timer (and the retention sweep, when a retention is set). */
  start(): void {
    this.schedule.start();
  }

  /**
   * Retention: deletes telemetry older than `telemetryRetentionMs`; returns the rows deleted.
   * @example
   * await rollouts.sweepTelemetry(); // e.g. 120000
   */
  sweepTelemetry(): Promise<number> {
    return sweepTelemetry(this.ctx.store, this.ctx.log, this.telemetryRetentionMs, this.ctx.now);
  }

  async stop(): Promise<void> {
    await this.schedule.stop();
    await this.queue.settled();
  }

  /** Evaluates every running rollout once; errors are logged, not thrown (one bad rollout must not stop the rest). */
  async evaluateAll(): Promise<void> {
    for (const r of await this.ctx.store.listRollouts({ status: ['running'], limit: 1000 })) {
      await this.evaluate(r.id).catch((error: unknown) =>
        this.ctx.log.error({ err: error, rolloutId: r.id }, 'rollout evaluation failed'),
      );
    }
  }

  /**
   * @example
   * const r = await rollouts.startRollout({ app: 'digits', candidateVersion: 2 }, 'admin:key_1');
   */
  startRollout(input: StartRollout, actor: string): Promise<Rollout> {
    return startRollout(this.ctx, input, actor);
  }

  /**
   * Analyses the current stage and applies the decision (only while running).
   * @example
   * const { verdict, action } = await rollouts.evaluate(id);
   */
  evaluate(id: string): Promise<Evaluation> {
    return this.queue.run(id, () => evaluateRollout(this.ctx, id));
  }

  /** running -> paused: no automatic transitions until resumed. */
  pause(id: string, actor: string, reason?: string): Promise<Rollout> {
    return this.queue.run(id, () => pauseRollout(this.ctx, id, actor, reason));
  }

  /** paused / halted -> running, with a fresh stage window so old (possibly mismatched) evidence is not reused. */
  resume(id: string, actor: string, reason?: string): Promise<Rollout> {
    return this.queue.run(id, () => resumeRollout(this.ctx, id, actor, reason));
  }

  /** Operator override: the candidate goes to production now. */
  promote(id: string, actor: string, reason?: string): Promise<Rollout> {
    return this.queue.run(id, () => promoteRollout(this.ctx, id, actor, reason));
  }

  /** Operator override: everyone back on the control version; the candidate returns to 'candidate'. */
  abort(id: string, actor: string, reason?: string): Promise<Rollout> {
    return this.queue.run(id, () => abortRollout(this.ctx, id, actor, reason));
  }

  /**
   * The shadow a device should run during the app's live rollout, or null.
   * @example
   * const s = await rollouts.shadowFor('digits', 'dev_1'); // { version: 3, sampleRate: 0.1, manifest, rolloutId }
   */
  shadowFor(app: string, _deviceId: string): Promise<DeviceShadow | null> {
    return shadowForDevice(this.ctx.store, this.ctx.signing, app);
  }

  /** Agreement and latency of the rollout's shadow against production, from 'shadow' telemetry since the rollout began. */
  shadowReport(rollout: Rollout): Promise<ShadowReport | null> {
    return rolloutShadowReport(this.ctx.store, rollout);
  }

  /**
   * Bandit preview: the allocation Thompson sampling gives `versions` from
   * their labelled feedback since `since` (read-only; bandit-preview.ts).
   * @example
   * const p = await rollouts.banditPreview('digits', [1, 2]); // p.shares e.g. [0.02, 0.98]
   */
  banditPreview(
    app: string,
    versions: number[],
    since?: string,
    rng: Rng = seededRng(Date.now()),
  ): Promise<BanditPreview> {
    return banditPreview(this.ctx.store, app, versions, since, rng);
  }
}
