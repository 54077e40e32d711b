/**
 * The rollout service: starts rollouts, evaluates them on a timer (and on
 * demand), and applies what `decideNext` says: advance a stage, promote the
 * candidate to production, roll back, or halt. Operators pause, resume,
 * promote and abort through the same class. Every transition is audited and
 * announced on `events`, and all state lives in the store, so a restarted
 * coordinator carries on where the last one stopped.
 *
 * Each transition that changes what devices are served (start, advance,
 * promote, rollback, abort) is one store transaction: its manifests, stage
 * moves, rollout row and audit entries commit together, and devices read
 * their manifest from one snapshot (rollout-manifests.ts), so none sees half
 * a transition. Before, a device polling between the canary manifest's
 * publication and the rollout row's update got the canary manifest as "the
 * app's latest", control devices too. The row update is guarded by the status
 * and stage the decision was drawn from, so two processes deciding the same
 * advance cannot both apply it; announcements go out only after the commit.
 */
import type { SigningKey } from '../auth/bootstrap.ts';
import { newId } from '../auth/secrets.ts';
import { ApiError } from '../http/api-error.ts';
import type { Logger } from '../observability/logger.ts';
import { changeStage, publishManifest } from '../registry/publish.ts';
import {
  isStoreError,
  LIVE_ROLLOUT_STATUSES,
  type JsonObject,
  type ModelVersion,
  type Rollout,
  type RolloutStatus,
  type Store,
  type StoreOps,
} from '../store/index.ts';
import { analyzeCanary, type CanaryVerdict } from './canary-analysis.ts';
import { analysedStageCount, decideNext, type RolloutAction } from './decide.ts';
import type { ManifestEvents } from './manifest-events.ts';
import { loadModelSpec } from '../registry/model-spec-file.ts';
import { resolveMetricRules, rulesForOutput, type MetricRules, type MetricRulesInput } from './metric-rules.ts';
import { liveRollout, publishCohortManifest } from './rollout-manifests.ts';
import { readCohorts, readTelemetry } from './rollout-telemetry.ts';
import { rewardsFromFeedback, seededRng, thompsonShares, type ArmReward, type Rng } from './bandit.ts';
import { shadowOf, shadowReport, type ShadowConfig, type ShadowReport } from './shadow.ts';
import { shadowManifestFor } from './shadow-manifest.ts';
import type { SignedManifest } from '../../shared/manifest/index.ts';

export const DEFAULT_STAGES = [5, 25, 50, 100];
export const DEFAULT_MIN_STAGE_SECONDS = 3600;
export const DEFAULT_MIN_SAMPLES = 50;
export const DEFAULT_EVALUATE_INTERVAL_MS = 5_000;

export interface StartRollout {
  app: string;
  candidateVersion: number;
  stages?: number[];
  minStageSeconds?: number;
  minSamples?: number;
  metrics?: MetricRulesInput;
  /** Run this version as a shadow on a sampled share of inferences (see shadow.ts). */
  shadow?: ShadowConfig;
}

/** What a device needs to run the shadow: answered by `GET /v1/apps/:app/shadow`. */
export interface DeviceShadow extends ShadowConfig {
  rolloutId: string;
  manifest: SignedManifest;
}

export interface Evaluation {
  rollout: Rollout;
  verdict: CanaryVerdict | null;
  action: RolloutAction;
}

/** Queues an effect (an announcement, a log line) to run once the transition has committed. */
type AfterCommit = (effect: () => void) => void;

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
  private readonly store: Store;
  private readonly signing: SigningKey;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | null = null;
  private retentionTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<unknown> | null = null;
  private readonly telemetryRetentionMs: number;
  private readonly telemetrySweepMs: number;
  private ticking: Promise<void> | null = null;
  // Serializes evaluation and operator actions per rollout within this process.
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(options: RolloutServiceOptions) {
    this.store = options.store;
    this.signing = options.signing;
    this.log = options.log;
    this.events = options.events;
    this.intervalMs = options.intervalMs ?? DEFAULT_EVALUATE_INTERVAL_MS;
    this.now = options.now ?? (() => new Date());
    this.telemetryRetentionMs = options.telemetryRetentionMs ?? 0;
    this.telemetrySweepMs = options.telemetrySweepMs ?? 3_600_000;
  }

  /** Starts the evaluation timer. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.ticking) this.ticking = this.evaluateAll().finally(() => (this.ticking = null));
    }, this.intervalMs);
    this.timer.unref();
    if (this.telemetryRetentionMs > 0) {
      this.retentionTimer = setInterval(() => {
        if (!this.sweeping)
          this.sweeping = this.sweepTelemetry()
            .catch((error: unknown) => this.log.error({ err: error }, 'telemetry retention sweep failed'))
            .finally(() => (this.sweeping = null));
      }, this.telemetrySweepMs);
      this.retentionTimer.unref();
    }
  }

  /**
   * Retention: deletes telemetry older than `telemetryRetentionMs`; returns the rows deleted.
   * @example
   * await rollouts.sweepTelemetry(); // e.g. 120000
   */
  async sweepTelemetry(): Promise<number> {
    if (!(this.telemetryRetentionMs > 0)) return 0;
    const deleted = await this.store.deleteTelemetryBefore(
      new Date(this.now().getTime() - this.telemetryRetentionMs).toISOString(),
    );
    if (deleted > 0) this.log.info({ deleted, retentionMs: this.telemetryRetentionMs }, 'old telemetry deleted');
    return deleted;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    await this.sweeping;
    await this.ticking;
    await Promise.allSettled([...this.chains.values()]);
  }

  /** Evaluates every running rollout once; errors are logged, not thrown (one bad rollout must not stop the rest). */
  async evaluateAll(): Promise<void> {
    for (const r of await this.store.listRollouts({ status: ['running'], limit: 1000 })) {
      await this.evaluate(r.id).catch((error: unknown) =>
        this.log.error({ err: error, rolloutId: r.id }, 'rollout evaluation failed'),
      );
    }
  }

  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.chains.get(id) ?? Promise.resolve()).catch(() => undefined).then(fn);
    this.chains.set(id, next);
    void next
      .finally(() => {
        if (this.chains.get(id) === next) this.chains.delete(id);
      })
      .catch(() => undefined);
    return next;
  }

  private async mustGet(id: string): Promise<Rollout> {
    const r = await this.store.getRollout(id);
    if (!r) throw new ApiError('not_found', `no rollout ${id}; list them with "flock rollout list"`);
    return r;
  }

  private async version(app: string, version: number, ops: StoreOps = this.store): Promise<ModelVersion> {
    const v = await ops.getModelVersion(app, version);
    if (!v) throw new ApiError('not_found', `model ${app} has no version ${version}`);
    return v;
  }

  /**
   * Runs one transition in one store transaction, then its queued effects:
   * a device told of a change must find it when it re-reads, and nothing is
   * announced or logged for a transition that rolled back.
   */
  private async transition<T>(fn: (tx: StoreOps, after: AfterCommit) => Promise<T>): Promise<T> {
    const effects: Array<() => void> = [];
    const result = await this.store.transaction((tx) => fn(tx, (effect) => effects.push(effect)));
    for (const effect of effects) effect();
    return result;
  }

  private announce(after: AfterCommit, app: string, generation: number, reason: string): void {
    after(() => this.events.publish({ app, generation, reason }));
  }

  /**
   * @example
   * const r = await rollouts.startRollout({ app: 'digits', candidateVersion: 2 }, 'admin:key_1');
   */
  async startRollout(input: StartRollout, actor: string): Promise<Rollout> {
    const stages = input.stages ?? DEFAULT_STAGES;
    if (stages.length === 0 || stages.some((p, i) => !(p > 0 && p <= 100) || (i > 0 && p <= stages[i - 1]))) {
      throw new ApiError(
        'bad_request',
        `stages must be increasing percentages in (0, 100], e.g. [5, 25, 50, 100]; got ${JSON.stringify(stages)}`,
      );
    }
    // A regression candidate is judged on its absolute errors, not on right-or-wrong feedback it never gets.
    const candidateRow = await this.store.getModelVersion(input.app, input.candidateVersion);
    const outputKind = candidateRow
      ? ((await loadModelSpec(this.store, candidateRow))?.output.kind ?? 'multiclass')
      : 'multiclass';
    const rules: MetricRules = rulesForOutput(outputKind, input.metrics);
    const id = newId('ro');
    return this.transition(async (tx, after) => {
      const candidate = await this.version(input.app, input.candidateVersion, tx);
      const production = await this.production(tx, input.app);
      if (production.version === candidate.version)
        throw new ApiError('conflict', `version ${candidate.version} is already in production`);
      if (candidate.stage === 'archived')
        throw new ApiError(
          'conflict',
          `version ${candidate.version} is archived; push or restore it as a candidate first`,
        );
      if (input.shadow) {
        const shadow = await this.version(input.app, input.shadow.version, tx);
        if (shadow.stage === 'archived')
          throw new ApiError('conflict', `shadow version ${shadow.version} is archived; pick a live version`);
        if (shadow.version === production.version)
          throw new ApiError(
            'bad_request',
            `shadow version ${shadow.version} is production itself; a shadow must differ from what it is compared with`,
          );
      }
      // The control manifest first: allocating its generation locks the app's
      // generation counter until commit (PostgreSQL; SQLite's BEGIN IMMEDIATE
      // locks everything), so a concurrent start or promotion for this app
      // waits here, and the checks below see what it committed.
      const control = await publishCohortManifest(tx, this.signing, production, id, 'control', {
        shadow: input.shadow !== undefined,
      });
      const live = await liveRollout(tx, input.app);
      if (live)
        throw new ApiError(
          'conflict',
          `app ${input.app} already has rollout ${live.id} (${live.status}); abort or finish it first`,
        );
      if ((await this.production(tx, input.app)).version !== production.version)
        throw new ApiError(
          'conflict',
          `the production version of ${input.app} changed while the rollout started; start it again`,
        );
      await tx.createRollout({
        id,
        app: input.app,
        candidateVersion: candidate.version,
        controlVersion: production.version,
        stages,
        minStageSeconds: input.minStageSeconds ?? DEFAULT_MIN_STAGE_SECONDS,
        minSamples: input.minSamples ?? DEFAULT_MIN_SAMPLES,
        metrics: rules as unknown as JsonObject,
        shadow: input.shadow ? (input.shadow as unknown as JsonObject) : null,
      });
      const canaryVersion = await changeStage(tx, this.signing, {
        app: input.app,
        version: candidate.version,
        stage: 'canary',
        actor,
        reason: `rollout ${id}`,
      });
      const canary = await publishCohortManifest(tx, this.signing, canaryVersion, id, 'canary', {
        shadow: input.shadow !== undefined,
      });
      const rollout = await tx.updateRollout(id, {
        controlGeneration: control.generation,
        canaryGeneration: canary.generation,
      });
      await tx.appendAudit({
        actor,
        action: 'rollout.start',
        target: id,
        details: {
          app: input.app,
          candidateVersion: candidate.version,
          controlVersion: production.version,
          stages,
          canaryGeneration: canary.generation,
          controlGeneration: control.generation,
        },
      });
      this.announce(after, input.app, canary.generation, 'rollout.start');
      return rollout;
    });
  }

  private async production(ops: StoreOps, app: string): Promise<ModelVersion> {
    const production = (await ops.listModelVersions(app, { stage: 'production', limit: 1 }))[0];
    if (!production)
      throw new ApiError(
        'conflict',
        `app ${app} has no production version to compare against; promote one with "flock model stage"`,
      );
    return production;
  }

  /**
   * Analyses the current stage and applies the decision (only while running).
   * @example
   * const { verdict, action } = await rollouts.evaluate(id);
   */
  evaluate(id: string): Promise<Evaluation> {
    return this.serial(id, async () => {
      const rollout = await this.mustGet(id);
      if (!(LIVE_ROLLOUT_STATUSES as readonly string[]).includes(rollout.status)) {
        return { rollout, verdict: null, action: { kind: 'wait', reason: `rollout is ${rollout.status}` } };
      }
      const percent = rollout.stages[rollout.stageIndex];
      const { canary, control } = await readCohorts(this.store, rollout);
      const rules = resolveMetricRules(rollout.metrics as MetricRulesInput);
      const verdict = analyzeCanary({
        canary,
        control,
        expectedCanaryShare: percent / 100,
        rules,
        analysedStages: analysedStageCount(rollout.stages),
      });
      const now = this.now();
      const action = decideNext(rollout, verdict, canary.exposedDevices, now);
      const record = {
        at: now.toISOString(),
        stageIndex: rollout.stageIndex,
        percent,
        ...verdict,
        action,
      } as unknown as JsonObject;
      try {
        const updated = await this.transition(async (tx, after) => {
          // The verdict, and what it decides, land only on the state they were drawn from.
          const noted = await tx.updateRollout(
            id,
            { lastVerdict: record },
            { ifStatus: [rollout.status], ifStageIndex: rollout.stageIndex },
          );
          return rollout.status === 'running' ? this.apply(tx, after, noted, action, 'system') : noted;
        });
        return { rollout: updated, verdict, action };
      } catch (error) {
        if (!isStoreError(error, 'conflict')) throw error;
        // Another process (or an operator) moved the rollout while this one analysed it.
        const moved = await this.mustGet(id);
        return {
          rollout: moved,
          verdict,
          action: {
            kind: 'wait',
            reason: `rollout changed while it was evaluated (now ${moved.status} at stage ${moved.stageIndex + 1}); the next evaluation judges that`,
          },
        };
      }
    });
  }

  /**
   * Applies a decision inside the transition's `tx`. Each one first makes the
   * guarded row update (status and stage the decision was drawn from): on
   * PostgreSQL it takes the row lock, so a second process applying the same
   * decision fails there, before it publishes anything, and the whole
   * transaction rolls back.
   */
  private async apply(
    tx: StoreOps,
    after: AfterCommit,
    rollout: Rollout,
    action: RolloutAction,
    actor: string,
  ): Promise<Rollout> {
    switch (action.kind) {
      case 'wait':
        return rollout;
      case 'advance': {
        await tx.updateRollout(
          rollout.id,
          { stageIndex: action.toStageIndex, stageStartedAt: this.now().toISOString() },
          { ifStatus: ['running'], ifStageIndex: rollout.stageIndex },
        );
        const candidate = await this.version(rollout.app, rollout.candidateVersion, tx);
        const canary = await publishCohortManifest(tx, this.signing, candidate, rollout.id, 'canary', {
          shadow: shadowOf(rollout) !== null,
        });
        const updated = await tx.updateRollout(rollout.id, { canaryGeneration: canary.generation });
        await tx.appendAudit({
          actor,
          action: 'rollout.advance',
          target: rollout.id,
          details: {
            fromPercent: rollout.stages[rollout.stageIndex],
            toPercent: rollout.stages[action.toStageIndex],
            canaryGeneration: canary.generation,
          },
        });
        this.announce(after, rollout.app, canary.generation, 'rollout.advance');
        return updated;
      }
      case 'promote':
        return this.promoteNow(tx, after, rollout, actor, 'all stages passed', ['running']);
      case 'rollback':
        return this.endWithControl(tx, after, rollout, actor, 'rolled_back', action.reason);
      case 'halt': {
        const updated = await tx.updateRollout(
          rollout.id,
          { status: 'halted', reason: action.reason },
          { ifStatus: ['running'], ifStageIndex: rollout.stageIndex },
        );
        await tx.appendAudit({ actor, action: 'rollout.halt', target: rollout.id, details: { reason: action.reason } });
        after(() => this.log.warn({ rolloutId: rollout.id, reason: action.reason }, 'rollout halted'));
        return updated;
      }
    }
  }

  /** Status, production stage and the new production manifest in one commit: nobody is served the last canary manifest as "latest". */
  private async promoteNow(
    tx: StoreOps,
    after: AfterCommit,
    rollout: Rollout,
    actor: string,
    reason: string,
    from: RolloutStatus[],
  ): Promise<Rollout> {
    const updated = await tx.updateRollout(
      rollout.id,
      { status: 'completed', reason, endedAt: this.now().toISOString() },
      { ifStatus: from },
    );
    await changeStage(tx, this.signing, {
      app: rollout.app,
      version: rollout.candidateVersion,
      stage: 'production',
      actor,
      reason: `rollout ${rollout.id}: ${reason}`,
    });
    const latest = await tx.latestManifest(rollout.app);
    await tx.appendAudit({
      actor,
      action: 'rollout.promote',
      target: rollout.id,
      details: { version: rollout.candidateVersion, generation: latest?.generation ?? null, reason },
    });
    if (latest) this.announce(after, rollout.app, latest.generation, 'rollout.promote');
    return updated;
  }

  /**
   * Rollback and abort: everyone back on the control version, in a NEWER
   * generation than any canary one, committed with the status (else control
   * devices would be served the canary manifest as the app's latest meanwhile).
   */
  private async endWithControl(
    tx: StoreOps,
    after: AfterCommit,
    rollout: Rollout,
    actor: string,
    status: 'rolled_back' | 'aborted',
    reason: string,
  ): Promise<Rollout> {
    const updated = await tx.updateRollout(
      rollout.id,
      { status, reason, endedAt: this.now().toISOString() },
      { ifStatus: [...LIVE_ROLLOUT_STATUSES] },
    );
    const control = await this.version(rollout.app, rollout.controlVersion, tx);
    const record = await publishManifest(tx, this.signing, control);
    await changeStage(tx, this.signing, {
      app: rollout.app,
      version: rollout.candidateVersion,
      stage: status === 'rolled_back' ? 'archived' : 'candidate',
      actor,
      reason: `rollout ${rollout.id} ${status}: ${reason}`,
    });
    await tx.appendAudit({
      actor,
      action: status === 'rolled_back' ? 'rollout.rollback' : 'rollout.abort',
      target: rollout.id,
      details: { toVersion: control.version, generation: record.generation, reason },
    });
    after(() => this.log.warn({ rolloutId: rollout.id, status, reason }, 'rollout ended on the control version'));
    this.announce(after, rollout.app, record.generation, `rollout.${status}`);
    return updated;
  }

  /** running -> paused: no automatic transitions until resumed. */
  pause(id: string, actor: string, reason?: string): Promise<Rollout> {
    return this.serial(id, async () => {
      const r = await this.mustGet(id);
      if (r.status === 'paused') return r;
      if (r.status !== 'running')
        throw new ApiError('conflict', `rollout ${id} is ${r.status}; only a running rollout can be paused`);
      const updated = await this.store.updateRollout(id, { status: 'paused' }, { ifStatus: ['running'] });
      await this.store.appendAudit({ actor, action: 'rollout.pause', target: id, details: reason ? { reason } : {} });
      return updated;
    });
  }

  /** paused / halted -> running, with a fresh stage window so old (possibly mismatched) evidence is not reused. */
  resume(id: string, actor: string, reason?: string): Promise<Rollout> {
    return this.serial(id, async () => {
      const r = await this.mustGet(id);
      if (r.status === 'running') return r;
      if (r.status !== 'paused' && r.status !== 'halted')
        throw new ApiError('conflict', `rollout ${id} is ${r.status}; only a paused or halted rollout can resume`);
      const updated = await this.store.updateRollout(
        id,
        { status: 'running', stageStartedAt: this.now().toISOString(), reason: null },
        { ifStatus: ['paused', 'halted'] },
      );
      await this.store.appendAudit({
        actor,
        action: 'rollout.resume',
        target: id,
        details: { from: r.status, ...(reason ? { reason } : {}) },
      });
      return updated;
    });
  }

  /** Operator override: the candidate goes to production now. */
  promote(id: string, actor: string, reason?: string): Promise<Rollout> {
    return this.serial(id, async () => {
      const r = await this.mustGet(id);
      if (!(LIVE_ROLLOUT_STATUSES as readonly string[]).includes(r.status))
        throw new ApiError('conflict', `rollout ${id} is ${r.status}; it can no longer be promoted`);
      return this.transition((tx, after) =>
        this.promoteNow(tx, after, r, actor, reason ? `promoted by operator: ${reason}` : 'promoted by operator', [
          ...LIVE_ROLLOUT_STATUSES,
        ]),
      );
    });
  }

  /** Operator override: everyone back on the control version; the candidate returns to 'candidate'. */
  abort(id: string, actor: string, reason?: string): Promise<Rollout> {
    return this.serial(id, async () => {
      const r = await this.mustGet(id);
      if (!(LIVE_ROLLOUT_STATUSES as readonly string[]).includes(r.status))
        throw new ApiError('conflict', `rollout ${id} is ${r.status}; it has already ended`);
      return this.transition((tx, after) =>
        this.endWithControl(
          tx,
          after,
          r,
          actor,
          'aborted',
          reason ? `aborted by operator: ${reason}` : 'aborted by operator',
        ),
      );
    });
  }

  /**
   * The shadow a device should run during the app's live rollout, with a
   * signed manifest of the shadow version (cohort 'shadow'), or null.
   * @example
   * const s = await rollouts.shadowFor('digits', 'dev_1'); // { version: 3, sampleRate: 0.1, manifest, rolloutId }
   */
  async shadowFor(app: string, _deviceId: string): Promise<DeviceShadow | null> {
    const rollout = await liveRollout(this.store, app);
    const config = rollout ? shadowOf(rollout) : null;
    if (!rollout || !config) return null;
    const version = await this.version(app, config.version);
    const manifest = await shadowManifestFor(this.store, this.signing, rollout, version);
    return { ...config, rolloutId: rollout.id, manifest };
  }

  /** Agreement and latency of the rollout's shadow against production, from 'shadow' telemetry since the rollout began. */
  async shadowReport(rollout: Rollout): Promise<ShadowReport | null> {
    const config = shadowOf(rollout);
    if (!config) return null;
    const versions = [...new Set([rollout.controlVersion, rollout.candidateVersion])];
    const rows = (
      await Promise.all(versions.map((v) => readTelemetry(this.store, rollout.app, v, rollout.createdAt, 'shadow')))
    ).flat();
    return shadowReport(rows, config);
  }

  /**
   * Bandit preview: the allocation Thompson sampling gives `versions` from
   * their labelled feedback since `since`. Read-only: serving devices by
   * bandit needs a stored BanditState (bandit.ts), which is not persisted yet.
   * @example
   * const p = await rollouts.banditPreview('digits', [1, 2]); // p.shares e.g. [0.02, 0.98]
   */
  async banditPreview(
    app: string,
    versions: number[],
    since?: string,
    rng: Rng = seededRng(Date.now()),
  ): Promise<{ versions: number[]; rewards: ArmReward[]; shares: number[] }> {
    for (const v of versions) await this.version(app, v);
    const rows = (await Promise.all(versions.map((v) => readTelemetry(this.store, app, v, since, 'feedback')))).flat();
    const found = rewardsFromFeedback(rows);
    const rewards = versions.map(
      (version) => found.find((r) => r.version === version) ?? { version, successes: 0, failures: 0 },
    );
    return { versions, rewards, shares: thompsonShares(rewards, rng) };
  }
}
