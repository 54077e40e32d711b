/**
 * Federated rounds: check-in with over-selection, validated idempotent
 * uploads folded into a streaming accumulator, and closing at quorum or
 * deadline into a new model version with full lineage.
 *
 * Crash model: the store is the truth. An update is acknowledged only after
 * its blob and row are durable; the in-memory accumulator is a cache of
 * "which stored updates are already summed". At close, every stored update
 * the accumulator has not seen (a restart, a race) is folded from storage,
 * so `kill -9` loses nothing that was acknowledged.
 *
 * Several processes (with `signals`): each keeps the partial sum of the
 * updates it accepted. The elected closer asks every live process to flush
 * its partial (round_partials), waits for them up to `flushWaitMs`, and sums
 * its own fold, the flushed partials and, from storage, every stored update
 * no partial covers (a crashed or silent process): see closing-partials.ts.
 */
import { randomUUID } from 'node:crypto';
import { ZodError } from 'zod';
import { decodeTensors } from '../../shared/codec/index.ts';
import type { CheckInResponse, TaskPlan, UpdateReceipt } from '../../shared/protocol/index.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import {
  AggregationError,
  createAccumulator,
  serverStrategy,
  type Accumulator,
  type RoundAggregate,
} from '../aggregation/index.ts';
import type { SigningKey } from '../auth/bootstrap.ts';
import { ApiError } from '../http/api-error.ts';
import type { Logger } from '../observability/logger.ts';
import type { CoordinatorMetrics } from '../observability/metrics.ts';
import { isStoreError, type JsonObject, type Round, type Store, type Task } from '../store/index.ts';
import {
  admitHeader,
  admitUpload,
  type HeaderAdmission,
  parsePlan,
  planNormBound,
  requireModelVersion,
} from './admit-upload.ts';
import {
  collectPartials,
  deletePartialBlobs,
  mergePartials,
  writePartial,
  type PartialMergeCounts,
} from './closing-partials.ts';
import { boundDeviceShares, type DeviceShareBound } from './device-share.ts';
import { retryAfterSeconds, selectionLimit, waitForNextRound } from './pace.ts';
import { nextRoundPrivacy } from './privacy-budget.ts';
import { publishRoundResult } from './publish-round.ts';
import type { RoundSignal, RoundSignals } from './round-signals.ts';

interface RoundFold {
  accumulator: Accumulator | null;
  folded: Set<string>;
}

export interface RoundServiceOptions {
  store: Store;
  log: Logger;
  metrics: CoordinatorMetrics;
  signing: SigningKey;
  sweepIntervalMs: number;
  /** Source of jitter for retry-after (not security relevant). */
  random?: () => number;
  now?: () => number;
  /** This process's id in coordinator_processes and round_partials; random by default. */
  processId?: string;
  /**
   * Signals to the other processes on the same database. Without them the
   * service works alone (as before): no heartbeat, no flush, and a closer
   * reads every update it did not fold itself from storage.
   */
  signals?: RoundSignals;
  /** How long a closer waits for the live processes' partials; 3 s by default. */
  flushWaitMs?: number;
  /** A process whose heartbeat is older than this is dead; max(3 sweeps, 5 s) by default. */
  liveWindowMs?: number;
}

/** How long after its deadline a 'closing' round is taken over by another process. */
export const RECOVERY_GRACE_MS = 120_000;

/** Aggregation errors that come from the plan or the model, not from this round's updates: the next round would hit them too. */
const REPEATING_AGGREGATION_ERRORS = new Set([
  'bad-option',
  'bad-spec',
  'optimizer-state-mismatch',
  'dp-requires-mean',
  'dp-weighted-updates',
  'dp-unbounded-accumulator',
  'tensor-count-mismatch',
]);

function repeatsEveryRound(error: unknown): boolean {
  if (error instanceof ZodError) return true; // the stored plan no longer parses
  return error instanceof AggregationError && REPEATING_AGGREGATION_ERRORS.has(error.code);
}

function failureCode(error: unknown): string {
  if (error instanceof AggregationError || error instanceof ApiError) return error.code;
  if (error instanceof ZodError) return 'invalid-plan';
  return 'internal';
}

export class RoundService {
  private readonly folds = new Map<string, RoundFold>();
  private readonly closing = new Map<string, Promise<Round | null>>();
  private readonly openingLocks = new Map<string, Promise<unknown>>();
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Rounds whose partial this process flushed: it folds nothing more into them. */
  private readonly flushed = new Set<string>();
  private readonly partialWaiters = new Map<string, Set<() => void>>();
  private unsubscribe: (() => void) | null = null;
  private readonly random: () => number;
  private readonly now: () => number;
  /** This process's id among the coordinator processes. */
  readonly processId: string;

  constructor(private readonly o: RoundServiceOptions) {
    this.random = o.random ?? Math.random;
    this.now = o.now ?? Date.now;
    this.processId = o.processId ?? `proc_${randomUUID()}`;
    if (o.signals) this.unsubscribe = o.signals.subscribe((signal) => this.onSignal(signal));
  }

  private onSignal(signal: RoundSignal): void {
    if (signal.type === 'flushed') {
      for (const wake of this.partialWaiters.get(signal.roundId) ?? []) wake();
      return;
    }
    // Our own request, or a round this process is closing itself (it folds its own sum in directly).
    if (signal.from === this.processId || this.closing.has(signal.roundId)) return;
    this.flush(signal.roundId).catch((err) =>
      this.o.log.error(
        { err, round: signal.roundId },
        'flushing a partial sum failed; the closer reads those updates from storage',
      ),
    );
  }

  /**
   * Writes this process's partial sum of a closing round to round_partials
   * (an empty one when it folded nothing) and stops folding into that round.
   */
  async flush(roundId: string): Promise<void> {
    if (!this.o.signals || this.flushed.has(roundId)) return;
    this.flushed.add(roundId);
    const fold = this.folds.get(roundId);
    this.folds.delete(roundId);
    // Taken synchronously, before any await: fold() is synchronous too, so the
    // sum and the device set below describe exactly the same updates. An update
    // recorded just before the round turned 'closing' whose fold() runs after
    // this point is skipped by fold() (the round is in `flushed`) and is in no
    // partial, so the closer reads it from storage: late, never lost or doubled.
    await writePartial({
      store: this.o.store,
      log: this.o.log,
      roundId,
      processId: this.processId,
      accumulator: fold?.accumulator ?? null,
      devices: fold?.folded ?? new Set(),
    });
    await this.o.signals.publish({ type: 'flushed', roundId, processId: this.processId }).catch(() => undefined);
  }

  /** The live window: heartbeats older than this are dead processes. */
  private liveWindowMs(): number {
    return this.o.liveWindowMs ?? Math.max(3 * this.o.sweepIntervalMs, 5000);
  }

  /** Starts the deadline sweeper and resumes rounds a crash left half-closed. */
  async start(): Promise<void> {
    await this.sweep();
    this.timer = setInterval(
      () => void this.sweep().catch((err) => this.o.log.error({ err }, 'round sweep failed')),
      this.o.sweepIntervalMs,
    );
    this.timer.unref?.();
  }

  /** Stops the sweeper and waits for closes in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await Promise.allSettled([...this.closing.values()]);
    // Closers stop waiting for this process at once (else until its heartbeat goes stale).
    if (this.o.signals)
      await this.o.store
        .removeProcess(this.processId)
        .catch((err) => this.o.log.warn({ err }, 'could not remove the process heartbeat'));
    for (const fold of this.folds.values()) fold.accumulator?.dispose();
    this.folds.clear();
  }

  /** Closes rounds past their deadline and finishes rounds left in 'closing'. */
  async sweep(): Promise<void> {
    if (this.o.signals) {
      await this.o.store.heartbeatProcess(this.processId);
      // Partials of finished rounds: flushed too late, or their closer crashed before cleaning up.
      await deletePartialBlobs(this.o.store, await this.o.store.pruneRoundPartials());
    }
    const nowIso = new Date(this.now()).toISOString();
    const expired = await this.o.store.listRounds({ status: ['open'], deadlineBefore: nowIso, limit: 1000 });
    const stuck = await this.o.store.listRounds({ status: ['closing'], limit: 1000 });
    for (const round of stuck) {
      if (this.closing.has(round.id) || !this.isAbandoned(round)) continue;
      await this.closeRound(round.id, 'recovery').catch((err) =>
        this.o.log.error({ err, round: round.id }, 'round recovery failed'),
      );
    }
    for (const round of expired)
      await this.closeRound(round.id, 'deadline').catch((err) =>
        this.o.log.error({ err, round: round.id }, 'round close failed'),
      );
    // Partial sums of rounds another process closed are no longer needed.
    for (const [id, fold] of this.folds) {
      if (this.closing.has(id)) continue;
      const round = await this.o.store.getRound(id);
      if (round && (round.status === 'closed' || round.status === 'failed') && !this.closing.has(id)) {
        fold.accumulator?.dispose();
        this.folds.delete(id);
      }
    }
    for (const id of this.flushed) {
      const round = await this.o.store.getRound(id);
      if (!round || round.status === 'closed' || round.status === 'failed') this.flushed.delete(id);
    }
  }

  /**
   * A round left in 'closing' by a crash. With one process (SQLite) every such
   * round is abandoned: nobody else can be closing it. With several
   * (PostgreSQL) another live process may be closing it right now, so only a
   * round whose deadline passed RECOVERY_GRACE_MS ago counts; a second closer
   * would be harmless (the loser rolls back) but wasteful.
   */
  private isAbandoned(round: Round): boolean {
    if (this.o.store.kind === 'sqlite') return true;
    return Date.parse(round.deadlineAt) + RECOVERY_GRACE_MS < this.now();
  }

  private retry(
    reason: 'round_full' | 'no_open_round' | 'not_eligible' | 'budget_exhausted' | 'task_paused',
    base: number,
  ): CheckInResponse {
    return { status: 'retry', reason, retryAfterSeconds: retryAfterSeconds({ base, random: this.random }) };
  }

  /** Finds the task's open round or opens one, one opener per task at a time. */
  private async openRound(task: Task, plan: TaskPlan): Promise<Round | 'budget_exhausted' | 'closing'> {
    const previous = this.openingLocks.get(task.id) ?? Promise.resolve();
    const attempt = previous.then(async () => {
      const latest = await this.o.store.latestRound(task.id);
      if (latest?.status === 'open' && Date.parse(latest.deadlineAt) > this.now()) return latest;
      if (latest?.status === 'open' || latest?.status === 'closing') return 'closing' as const;
      const fresh = (await this.o.store.getTask(task.id))!;
      const privacy = nextRoundPrivacy(plan, fresh.accountant);
      if (!privacy.allowed) {
        await this.o.store
          .updateTask(task.id, { status: 'budget_exhausted' }, { ifStatus: ['active'] })
          .catch(() => undefined);
        await this.o.store.appendAudit({
          actor: 'system',
          action: 'task.budget_exhausted',
          target: task.id,
          details: {
            epsilonSpent: fresh.epsilonSpent,
            epsilonNext: privacy.epsilonAfter,
            budget: plan.privacyBudget ?? null,
          },
        });
        this.o.log.warn({ task: task.id, epsilonNext: privacy.epsilonAfter }, 'privacy budget exhausted; no new round');
        return 'budget_exhausted' as const;
      }
      // The id is derived from the previous round, so two processes opening the
      // next round of a task at once collide on the primary key: one creates it,
      // the other reads it back (the per-process lock above cannot see the other).
      const id = `rnd_${task.id}.${(latest?.number ?? 0) + 1}`;
      const round = await this.o.store
        .createRound({
          id,
          taskId: task.id,
          globalVersion: fresh.currentVersion,
          goal: plan.clientsPerRound,
          selectionLimit: selectionLimit(plan.clientsPerRound, plan.overSelection),
          deadlineAt: new Date(this.now() + plan.roundDeadlineSeconds * 1000).toISOString(),
        })
        .catch(async (error: unknown) => {
          if (!isStoreError(error, 'conflict')) throw error;
          const other = await this.o.store.getRound(id);
          if (!other) throw error;
          return other;
        });
      if (round.status !== 'open') return 'closing' as const;
      this.o.metrics.openRounds.inc();
      this.o.log.info(
        { task: task.id, round: round.id, number: round.number, version: round.globalVersion },
        'round opened',
      );
      return round;
    });
    this.openingLocks.set(
      task.id,
      attempt.catch(() => undefined),
    );
    return attempt;
  }

  /**
   * A device asks to join the task's current round.
   * @example const answer = await rounds.checkIn({ deviceId, app }, 'task_1', { numExamples: 120 });
   */
  async checkIn(
    device: { deviceId: string; app: string },
    taskId: string,
    request: { numExamples: number },
  ): Promise<CheckInResponse> {
    const task = await this.o.store.getTask(taskId);
    if (!task || task.app !== device.app) throw new ApiError('not_found', `no task ${taskId} for app ${device.app}`);
    if (task.status === 'paused') return this.retry('task_paused', 300);
    if (task.status === 'budget_exhausted') return this.retry('budget_exhausted', 3600);
    if (task.status === 'done') return this.retry('no_open_round', 3600);
    const plan = parsePlan(task);
    if (request.numExamples < plan.minExamples) return this.retry('not_eligible', 600);

    const round = await this.openRound(task, plan);
    if (round === 'budget_exhausted') return this.retry('budget_exhausted', 3600);
    if (round === 'closing') return this.retry('no_open_round', 10);
    // Kept with the selection: this device's update is never weighted above it (admit-upload.ts).
    const claim = await this.o.store.claimSlot(
      round.id,
      device.deviceId,
      Math.min(request.numExamples, plan.maxExamplesPerDevice),
    );
    if (claim === 'full') return this.retry('round_full', waitForNextRound(this.now(), Date.parse(round.deadlineAt)));
    if (claim === 'closed') return this.retry('no_open_round', 10);

    const version = await requireModelVersion(this.o.store, task.app, round.globalVersion);
    const fp32 = version.variants.find((v) => v.encoding === 'fp32');
    if (!fp32) throw new ApiError('internal', `model ${task.app}@${version.version} has no fp32 variant to train from`);
    const clipNorm = task.clipNorm ?? plan.clipNorm;
    return {
      status: 'selected',
      roundId: round.id,
      taskId: task.id,
      roundNumber: round.number,
      plan: { ...plan, clipNorm },
      globalVersion: round.globalVersion,
      globalWeights: { hash: fp32.sha256, size: fp32.totalBytes, encoding: 'fp32' },
      modelTopologyHash: String((version.topology as JsonObject).topologyHash),
      deadlineAt: round.deadlineAt,
    };
  }

  /**
   * Accepts one update: validated, durable, then acknowledged; replays get the
   * first receipt.
   */
  /**
   * The checks an upload passes before its body is read (admit-upload.ts
   * `admitHeader`), counted in the rejection metrics like any refusal.
   */
  async admitHeader(
    device: { deviceId: string; app: string },
    roundId: string,
    metaHeader: string | undefined,
  ): Promise<HeaderAdmission> {
    try {
      return await admitHeader(this.o.store, this.now(), device, roundId, metaHeader);
    } catch (error) {
      if (error instanceof ApiError && error.code !== 'internal')
        this.o.metrics.updatesRejected.inc({ reason: error.code });
      throw error;
    }
  }

  async upload(
    device: { deviceId: string; app: string },
    roundId: string,
    metaHeader: string | undefined,
    bytes: Uint8Array,
  ): Promise<UpdateReceipt> {
    const reject = (error: ApiError): never => {
      this.o.metrics.updatesRejected.inc({ reason: error.code });
      throw error;
    };
    let admission;
    try {
      admission = await admitUpload(this.o.store, this.now(), device, roundId, metaHeader, bytes);
    } catch (error) {
      if (error instanceof ApiError && error.code !== 'internal') reject(error);
      throw error;
    }
    if (admission.status === 'replay') return admission.receipt;
    const { meta: m, admittedExamples: examples, round, task, plan, specs, clipNorm, deltas } = admission;

    const blob = await this.o.store.blobs.put(bytes);
    const result = await this.o.store.recordUpdate({
      roundId,
      deviceId: device.deviceId,
      blobHash: blob.hash,
      byteLength: blob.size,
      // The weight the round uses; the device's own claim stays in `meta`.
      numExamples: examples,
      preClipNorm: m.preClipNorm,
      meta: m as unknown as JsonObject,
    });
    if (result.outcome === 'round-closed')
      return reject(new ApiError('round_closed', `round ${round.number} closed while the update arrived`));
    if (result.outcome === 'not-selected')
      return reject(new ApiError('not_selected', 'this device was not selected for this round'));
    if (result.outcome === 'duplicate')
      return {
        roundId,
        deviceId: device.deviceId,
        accepted: true,
        duplicate: true,
        receivedAt: result.receipt.receivedAt,
      };

    this.o.metrics.updatesAccepted.inc({ task: task.id });
    this.fold(round, plan, specs, device.deviceId, deltas, examples, clipNorm);
    if (result.reportedCount >= round.goal) {
      void this.closeRound(roundId, 'quorum').catch((err) =>
        this.o.log.error({ err, round: roundId }, 'round close failed'),
      );
    }
    return {
      roundId,
      deviceId: device.deviceId,
      accepted: true,
      duplicate: false,
      receivedAt: result.receipt.receivedAt,
    };
  }

  private foldOf(round: Round, plan: TaskPlan, specs: WeightSpec[], clipNorm: number): RoundFold {
    let fold = this.folds.get(round.id);
    if (!fold) {
      const strategy = serverStrategy(plan.strategy);
      // Central DP needs every summand bounded by exactly clipNorm (its sensitivity).
      const bound = plan.noiseMultiplier > 0 ? clipNorm : planNormBound(plan, clipNorm, specs);
      // A robust strategy keeps every update in the store and reads them all at close: nothing to fold.
      const accumulator =
        strategy.aggregate === 'weighted-mean'
          ? createAccumulator(specs, { normBound: strategy.updateNormBound(bound) })
          : null;
      fold = { accumulator, folded: new Set() };
      this.folds.set(round.id, fold);
    }
    return fold;
  }

  private fold(
    round: Round,
    plan: TaskPlan,
    specs: WeightSpec[],
    deviceId: string,
    deltas: Float32Array[],
    numExamples: number,
    clipNorm: number,
  ): void {
    if (this.closing.has(round.id)) return; // the closer folds it from storage
    if (this.flushed.has(round.id)) return; // after our flush: not in our partial, so the closer reads it from storage
    const fold = this.foldOf(round, plan, specs, clipNorm);
    if (fold.folded.has(deviceId)) return;
    fold.folded.add(deviceId);
    fold.accumulator?.add(deltas, plan.noiseMultiplier > 0 ? 1 : numExamples);
  }

  private async readUpdate(hash: string, specs: WeightSpec[]): Promise<Float32Array[]> {
    const bytes = await this.o.store.blobs.get(hash);
    if (!bytes) throw new ApiError('internal', `stored update blob ${hash} is missing`);
    const tensors = decodeTensors(bytes);
    const byName = new Map(tensors.map((t) => [t.name, t.data]));
    return specs.map((s) => byName.get(s.name)!);
  }

  /** Closes a round once (quorum, deadline, recovery or an operator). */
  closeRound(roundId: string, reason: 'quorum' | 'deadline' | 'recovery' | 'manual'): Promise<Round | null> {
    const inFlight = this.closing.get(roundId);
    if (inFlight !== undefined) return inFlight;
    const work = this.doClose(roundId, reason).finally(() => {
      this.closing.delete(roundId);
      const fold = this.folds.get(roundId);
      fold?.accumulator?.dispose();
      this.folds.delete(roundId);
    });
    this.closing.set(roundId, work);
    return work;
  }

  /**
   * Closes a round; when aggregating it fails, the round ends `failed` with the
   * reason stored instead of staying in 'closing' (where every sweep would
   * retry it, and fail again, for good). A store error is left to the sweep's
   * recovery: the next attempt may well succeed.
   */
  private async doClose(roundId: string, reason: string): Promise<Round | null> {
    try {
      return await this.closeOnce(roundId, reason);
    } catch (error) {
      if (isStoreError(error)) throw error;
      return this.failAggregation(roundId, error);
    }
  }

  /** Ends a 'closing' round `failed` after its aggregation threw; pauses the task when the next round would fail the same way. */
  private async failAggregation(roundId: string, error: unknown): Promise<Round | null> {
    const store = this.o.store;
    const round = await store.getRound(roundId);
    if (!round || round.status !== 'closing') throw error;
    const message = error instanceof Error ? error.message : String(error);
    const failureReason = `aggregation failed: ${message}`;
    const failed = await store.finishRound(roundId, {
      from: ['closing'],
      to: 'failed',
      failureReason,
      metrics: { reports: round.reportedCount, error: failureCode(error) },
    });
    if (!failed) return store.getRound(roundId);
    await store.appendAudit({
      actor: 'system',
      action: 'round.failed',
      target: roundId,
      details: { task: round.taskId, reason: failureReason },
    });
    this.o.metrics.roundDuration.observe({ outcome: 'failed' }, (this.now() - Date.parse(round.startedAt)) / 1000);
    this.o.log.error({ err: error, round: roundId }, 'round failed: aggregation error');
    if (repeatsEveryRound(error))
      await this.pauseTask(
        round.taskId,
        `round ${round.number} failed and the next would fail the same way: ${failureReason}`,
      );
    return failed;
  }

  /** Pauses an active task for a reason the operator reads in its view and the audit log. */
  private async pauseTask(taskId: string, reason: string): Promise<void> {
    const paused = await this.o.store.updateTask(taskId, { status: 'paused' }, { ifStatus: ['active'] }).then(
      () => true,
      () => false,
    );
    if (!paused) return;
    await this.o.store.appendAudit({ actor: 'system', action: 'task.pause', target: taskId, details: { reason } });
    this.o.log.warn({ task: taskId, reason }, 'task paused');
  }

  private async closeOnce(roundId: string, reason: string): Promise<Round | null> {
    const store = this.o.store;
    const before = await store.getRound(roundId);
    if (!before) return null;
    if (before.status === 'open') {
      if (!(await store.beginClosing(roundId))) {
        // Another process closes it: hand over our partial sum now instead of waiting for its request.
        await this.flush(roundId).catch((err) =>
          this.o.log.error({ err, round: roundId }, 'flushing a partial sum failed'),
        );
        return store.getRound(roundId);
      }
    } else if (before.status !== 'closing') {
      return before;
    }
    const started = this.now();
    const round = (await store.getRound(roundId))!;
    const task = (await store.getTask(round.taskId))!;
    const plan = parsePlan(task);
    const updates = await store.listUpdates(roundId);
    const outcomeSeconds = (this.now() - Date.parse(round.startedAt)) / 1000;
    this.o.metrics.openRounds.dec();

    if (updates.length < plan.minReports) {
      const failureReason = `${updates.length} of ${plan.minReports} required reports by the ${reason === 'deadline' ? 'deadline' : 'close'}`;
      const failed = await store.finishRound(roundId, {
        from: ['closing'],
        to: 'failed',
        failureReason,
        metrics: { reports: updates.length },
      });
      if (!failed) return store.getRound(roundId); // another process finished it first
      await store.appendAudit({
        actor: 'system',
        action: 'round.failed',
        target: roundId,
        details: { task: task.id, reason: failureReason },
      });
      this.o.metrics.roundDuration.observe({ outcome: 'failed' }, outcomeSeconds);
      this.o.log.warn(
        { round: roundId, reports: updates.length, minReports: plan.minReports },
        'round failed: too few reports',
      );
      return failed;
    }

    const version = await requireModelVersion(this.o.store, task.app, round.globalVersion);
    const specs = version.weightSpecs as WeightSpec[];
    const clipNorm = task.clipNorm ?? plan.clipNorm;
    const fold = this.foldOf(round, plan, specs, clipNorm);
    let aggregate: RoundAggregate;
    let sources: PartialMergeCounts = {
      fromOwnFold: 0,
      fromPartials: 0,
      fromStorage: updates.length,
      partialsMerged: 0,
      partialsIgnored: 0,
      flushWaitMs: 0,
    };
    let shareBound: DeviceShareBound = { lowered: 0, ceiling: null };
    if (fold.accumulator) {
      const accumulator = fold.accumulator;
      const waitStarted = this.now();
      const partials = this.o.signals
        ? await collectPartials({
            store,
            signals: this.o.signals,
            roundId,
            processId: this.processId,
            waiters: this.partialWaiters,
            liveSince: new Date(this.now() - this.liveWindowMs()).toISOString(),
            waitMs: this.o.flushWaitMs ?? 3000,
          })
        : [];
      const flushWaitMs = this.now() - waitStarted;
      sources = {
        ...(await mergePartials({
          accumulator,
          folded: fold.folded,
          partials,
          updates,
          specs,
          blobs: store.blobs,
          log: this.o.log,
          roundId,
        })),
        flushWaitMs,
      };
      for (const u of updates) {
        if (fold.folded.has(u.deviceId)) continue;
        fold.folded.add(u.deviceId);
        accumulator.add(await this.readUpdate(u.blobHash, specs), plan.noiseMultiplier > 0 ? 1 : u.numExamples);
      }
      // Every update is in the sum with its admitted count: now no device may own more than its bounded share.
      shareBound = await boundDeviceShares({
        accumulator,
        updates,
        plan,
        read: (hash) => this.readUpdate(hash, specs),
      });
      aggregate = { kind: 'mean', accumulator };
    } else {
      aggregate = {
        kind: 'updates',
        specs,
        source: { count: updates.length, read: (i: number) => this.readUpdate(updates[i].blobHash, specs) },
      };
    }

    const closed = await publishRoundResult({
      store,
      metrics: this.o.metrics,
      round,
      task,
      plan,
      version,
      specs,
      clipNorm,
      updates,
      aggregate,
      reason,
      sources,
      shareBound,
    });
    if (!closed) return store.getRound(roundId);
    if (this.o.signals) {
      try {
        await deletePartialBlobs(this.o.store, await store.deleteRoundPartials(roundId));
      } catch (err) {
        this.o.log.warn({ err, round: roundId }, 'could not delete the round partials; the sweeper retries');
      }
    }
    this.o.metrics.roundDuration.observe({ outcome: 'closed' }, outcomeSeconds);
    this.o.log.info(
      {
        round: roundId,
        version: closed?.resultVersion,
        reports: updates.length,
        ms: this.now() - started,
        fromOwnFold: sources.fromOwnFold,
        fromPartials: sources.fromPartials,
        fromStorage: sources.fromStorage,
        partialsIgnored: sources.partialsIgnored,
        weightsLowered: shareBound.lowered,
        weightCeiling: shareBound.ceiling,
      },
      'round closed',
    );
    return closed;
  }
}
