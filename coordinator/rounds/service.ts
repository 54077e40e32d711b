/**
 * Federated rounds: check-in with over-selection, validated idempotent
 * uploads folded into a streaming accumulator, and closing at quorum or
 * deadline into a new model version with full lineage.
 *
 * This file is the lifecycle (check-in, upload, close, the deadline sweep);
 * the concerns it drives sit beside it: opening a round (open-round.ts), this
 * process's in-memory sums (round-folds.ts), the exchange of partial sums
 * with other processes (partial-exchange.ts) and closing (close-round.ts).
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
 * Without signals the process is alone on its store, and whether others
 * exist is never guessed from the kind of store.
 *
 * A task with secure aggregation runs its rounds through the SecAgg+ phases
 * instead (secure-aggregation/): no plain upload, no fold; the round's phase
 * state is this process's alone, which is why such a task is refused where
 * other processes share the store (`sharesStore`).
 */
import { randomUUID } from 'node:crypto';
import type { WeightSpec } from '../../shared/model/index.ts';
import type { CheckInResponse, TaskPlan, UpdateReceipt } from '../../shared/protocol/index.ts';
import type { SigningKey } from '../auth/bootstrap.ts';
import { ApiError } from '../http/api-error.ts';
import type { Logger } from '../observability/logger.ts';
import type { CoordinatorMetrics } from '../observability/metrics.ts';
import type { Round, Store } from '../store/index.ts';
import { admitHeader, admitUpload, type HeaderAdmission, requireModelVersion } from './admit-upload.ts';
import { type CloseContext, type CloseReason, closeRoundOnce } from './close-round.ts';
import { RoundOpener } from './open-round.ts';
import { retryAfterSeconds, waitForNextRound } from './pace.ts';
import { PartialExchange } from './partial-exchange.ts';
import { type FoldableUpdate, foldUpdate, RoundFolds } from './round-folds.ts';
import type { RoundSignals } from './round-signals.ts';
import { SecureAggregationRounds } from './secure-aggregation/index.ts';

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
   * Signals to the other processes on the same database; their presence says
   * other processes may exist. Without them the service works alone: no
   * heartbeat, no flush, a closer reads every update it did not fold itself
   * from storage, and a round left 'closing' is recovered at once.
   */
  signals?: RoundSignals;
  /** How long a closer waits for the live processes' partials; 3 s by default. */
  flushWaitMs?: number;
  /** A process whose heartbeat is older than this is dead; max(3 sweeps, 5 s) by default. */
  liveWindowMs?: number;
}

/** How long after its deadline a 'closing' round is taken over by another process. */
export const RECOVERY_GRACE_MS = 120_000;

export class RoundService {
  private readonly folds = new RoundFolds();
  private readonly closing = new Map<string, Promise<Round | null>>();
  private readonly opener: RoundOpener;
  /** The exchange with other processes; null when this process is alone on its store. */
  private readonly partials: PartialExchange | null;
  private readonly closeContext: CloseContext;
  /** This process's secure-aggregation rounds (their phase state). */
  readonly secureAggregation: SecureAggregationRounds;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly random: () => number;
  private readonly now: () => number;
  /** This process's id among the coordinator processes. */
  readonly processId: string;

  constructor(private readonly o: RoundServiceOptions) {
    this.random = o.random ?? Math.random;
    this.now = o.now ?? Date.now;
    this.processId = o.processId ?? `proc_${randomUUID()}`;
    this.secureAggregation = new SecureAggregationRounds({
      store: o.store,
      log: o.log,
      metrics: o.metrics,
      signing: o.signing,
      now: this.now,
    });
    this.opener = new RoundOpener({
      store: o.store,
      log: o.log,
      metrics: o.metrics,
      now: this.now,
      onOpened: (round, task) => this.secureAggregation.open(round, task),
    });
    this.partials = o.signals
      ? new PartialExchange({
          store: o.store,
          log: o.log,
          signals: o.signals,
          folds: this.folds,
          processId: this.processId,
          isClosing: (roundId) => this.closing.has(roundId),
          now: this.now,
          flushWaitMs: o.flushWaitMs ?? 3000,
          liveWindowMs: o.liveWindowMs ?? Math.max(3 * o.sweepIntervalMs, 5000),
        })
      : null;
    this.closeContext = {
      store: o.store,
      log: o.log,
      metrics: o.metrics,
      now: this.now,
      folds: this.folds,
      partials: this.partials,
    };
  }

  /**
   * Writes this process's partial sum of a closing round to round_partials
   * (an empty one when it folded nothing) and stops folding into that round.
   * Does nothing when this process is alone on its store.
   */
  async flush(roundId: string): Promise<void> {
    await this.partials?.flush(roundId);
  }

  /** True when other coordinator processes may share this store (round signals were given). */
  get sharesStore(): boolean {
    return this.partials !== null;
  }

  /** Starts the deadline sweeper and resumes rounds a crash left half-closed. */
  async start(): Promise<void> {
    await this.secureAggregation.failOrphans();
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
    this.partials?.stopListening();
    await this.secureAggregation.stop();
    await Promise.allSettled([...this.closing.values()]);
    await this.partials?.leave();
    this.folds.disposeAll();
  }

  /** Closes rounds past their deadline and finishes rounds left in 'closing'. */
  async sweep(): Promise<void> {
    await this.partials?.sweep();
    await this.secureAggregation.sweep();
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
    for (const id of this.folds.roundIds()) {
      if (this.closing.has(id)) continue;
      const round = await this.o.store.getRound(id);
      if (round && (round.status === 'closed' || round.status === 'failed') && !this.closing.has(id))
        this.folds.dispose(id);
    }
    await this.partials?.forgetFinished();
  }

  /**
   * A round left in 'closing' by a crash. Alone on the store (no signals)
   * every such round is abandoned: nobody else can be closing it. With other
   * processes, one of them may be closing it right now, so only a round whose
   * deadline passed RECOVERY_GRACE_MS ago counts; a second closer would be
   * harmless (the loser rolls back) but wasteful.
   */
  private isAbandoned(round: Round): boolean {
    if (!this.partials) return true;
    return Date.parse(round.deadlineAt) + RECOVERY_GRACE_MS < this.now();
  }

  private retry(
    reason: 'round_full' | 'no_open_round' | 'not_eligible' | 'budget_exhausted' | 'task_paused',
    base: number,
  ): CheckInResponse {
    return { status: 'retry', reason, retryAfterSeconds: retryAfterSeconds({ base, random: this.random }) };
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
    const plan = task.plan;
    if (request.numExamples < plan.minExamples) return this.retry('not_eligible', 600);

    const round = await this.opener.open(task, plan);
    if (round === 'budget_exhausted') return this.retry('budget_exhausted', 3600);
    if (round === 'closing') return this.retry('no_open_round', 10);
    const secAgg = plan.secureAggregation ? await this.secureAggregation.forCheckIn(round) : null;
    if (plan.secureAggregation && !secAgg) return this.retry('no_open_round', 10); // failed: the coordinator restarted
    // Keys are advertised once; a device selected after the roster closed could never join it.
    if (secAgg && !secAgg.admitsSelection)
      return this.retry('round_full', waitForNextRound(this.now(), Date.parse(round.deadlineAt)));
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
    secAgg?.selected.add(device.deviceId);
    return {
      status: 'selected',
      roundId: round.id,
      taskId: task.id,
      roundNumber: round.number,
      plan: { ...plan, clipNorm },
      globalVersion: round.globalVersion,
      globalWeights: { hash: fp32.sha256, size: fp32.totalBytes, encoding: 'fp32' },
      modelTopologyHash: String(version.topology.topologyHash),
      deadlineAt: round.deadlineAt,
      ...(secAgg ? { secureAggregation: secAgg.signed } : {}),
    };
  }

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
      const head = await admitHeader(this.o.store, this.now(), device, roundId, metaHeader);
      if (head.status === 'admitted') refusePlainUpload(head.plan, roundId);
      return head;
    } catch (error) {
      if (error instanceof ApiError && error.code !== 'internal')
        this.o.metrics.updatesRejected.inc({ reason: error.code });
      throw error;
    }
  }

  /**
   * Accepts one update: validated, durable, then acknowledged; replays get the
   * first receipt. `head` is this request's `admitHeader` answer, if the caller has it.
   */
  async upload(
    device: { deviceId: string; app: string },
    roundId: string,
    metaHeader: string | undefined,
    bytes: Uint8Array,
    head?: HeaderAdmission,
  ): Promise<UpdateReceipt> {
    const reject = (error: ApiError): never => {
      this.o.metrics.updatesRejected.inc({ reason: error.code });
      throw error;
    };
    let admission;
    try {
      admission = await admitUpload(this.o.store, this.now(), device, roundId, metaHeader, bytes, head);
      if (admission.status === 'admitted') refusePlainUpload(admission.plan, roundId);
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
      meta: m,
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
    this.fold(round.id, plan, specs, clipNorm, { deviceId: device.deviceId, deltas, numExamples: examples });
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

  /**
   * Folds one admitted, durable update into this process's sum of the round.
   * Skipped while this process closes the round or after it flushed its
   * partial: the closer then reads the update from storage.
   */
  private fold(roundId: string, plan: TaskPlan, specs: WeightSpec[], clipNorm: number, update: FoldableUpdate): void {
    if (this.closing.has(roundId)) return; // the closer folds it from storage
    if (this.partials?.hasFlushed(roundId)) return; // not in our partial, so the closer reads it from storage
    foldUpdate(this.folds.of(roundId, plan, specs, clipNorm), plan, update);
  }

  /** Closes a round once (quorum, deadline, recovery or an operator). */
  closeRound(roundId: string, reason: CloseReason): Promise<Round | null> {
    // A secure-aggregation round closes phase by phase; closing it now closes the phase in progress.
    if (this.secureAggregation.owns(roundId))
      return this.secureAggregation.advance(roundId, reason === 'manual').then(() => this.o.store.getRound(roundId));
    const inFlight = this.closing.get(roundId);
    if (inFlight !== undefined) return inFlight;
    const work = closeRoundOnce(this.closeContext, roundId, reason).finally(() => {
      this.closing.delete(roundId);
      this.folds.dispose(roundId);
    });
    this.closing.set(roundId, work);
    return work;
  }
}

/** A secure-aggregation round takes masked inputs only (409): its plain updates would reach the coordinator in the clear. */
function refusePlainUpload(plan: TaskPlan, roundId: string): void {
  if (plan.secureAggregation)
    throw new ApiError(
      'conflict',
      `round ${roundId} runs secure aggregation: a plain update would reach the coordinator in the clear; send the masked input to PUT /v1/rounds/${roundId}/secagg/masked`,
    );
}
