/**
 * This process's secure-aggregation rounds: one SecAggRound per open round,
 * made when the round opens, driven through its phases by the device routes
 * and the RoundService sweep, and dropped when the round ends, so nothing but
 * the aggregate outlives it (no key, ciphertext or masked vector is stored;
 * the store holds only each round's counts, `secagg_round_stats`).
 *
 * Phase state lives in this process only. A round whose state is gone (the
 * coordinator restarted) cannot be unmasked, so it fails with
 * 'coordinator_restarted' at start() or when it is first touched; a task on
 * several coordinator processes is refused at creation (admin-tasks.ts).
 *
 * Transitions of one round run one at a time (`advance`), each closing the
 * phase in progress when every device it waits for has sent, or at its deadline.
 */
import type { SecAggAborted } from '../../../shared/protocol/index.ts';
import type { SigningKey } from '../../auth/bootstrap.ts';
import { ApiError } from '../../http/api-error.ts';
import type { Logger } from '../../observability/logger.ts';
import type { CoordinatorMetrics } from '../../observability/metrics.ts';
import { isStoreError, type Round, type Store, type Task } from '../../store/index.ts';
import { requireModelVersion } from '../admit-upload.ts';
import { secureAggregationFailure } from '../round-failure.ts';
import { publishSecAggRound } from './finish-round.ts';
import { roundConfig, signRoundConfig } from './round-config.ts';
import { roundDdg } from './round-ddg.ts';
import { SecAggRound } from './secagg-round.ts';

export interface SecureAggregationRoundsOptions {
  store: Store;
  log: Logger;
  metrics: CoordinatorMetrics;
  signing: SigningKey;
  now(): number;
}

/** What a device route works on: the live round, or the answer of one that aborted. */
export type SecAggRouteTarget = { round: SecAggRound; aborted: null } | { round: null; aborted: SecAggAborted };

const RESTARTED =
  'the coordinator restarted during the round; phase state is kept in memory only, so the round cannot be unmasked';

export class SecureAggregationRounds {
  readonly #rounds = new Map<string, SecAggRound>();
  readonly #transitions = new Map<string, Promise<void>>();

  constructor(private readonly o: SecureAggregationRoundsOptions) {}

  /** Whether this process runs the round's phases. */
  owns(roundId: string): boolean {
    return this.#rounds.has(roundId);
  }

  /** The round's live state, if this process holds it. */
  get(roundId: string): SecAggRound | null {
    return this.#rounds.get(roundId) ?? null;
  }

  /** Rounds held now (tests and /metrics). */
  get size(): number {
    return this.#rounds.size;
  }

  /**
   * Makes and signs the round's configuration as it opens (RoundOpener's
   * onOpened). A round that cannot start (its model cannot be encoded) fails at once.
   */
  async open(round: Round, task: Task): Promise<void> {
    const { store, signing } = this.o;
    try {
      const version = await requireModelVersion(store, task.app, round.globalVersion);
      const fp32 = version.variants.find((v) => v.encoding === 'fp32');
      if (!fp32) throw new Error(`model ${task.app}@${version.version} has no fp32 variant`);
      const ddg = await roundDdg(store, task, version);
      const rotationSeed = globalThis.crypto.getRandomValues(new Uint8Array(32));
      const config = roundConfig({
        round,
        task,
        globalWeightsHash: fp32.sha256,
        ddg,
        rotationSeed,
        issuedAt: this.o.now(),
      });
      const state = new SecAggRound({
        roundId: round.id,
        taskId: task.id,
        app: task.app,
        selectionLimit: round.selectionLimit,
        signed: await signRoundConfig(config, signing),
        ddg,
        rotationSeed,
        specs: version.weightSpecs,
      });
      this.#rounds.set(round.id, state);
      await store.putSecAggRoundStats(round.id, state.stats());
    } catch (error) {
      if (isStoreError(error)) throw error;
      this.#rounds.delete(round.id);
      const message = error instanceof Error ? error.message : String(error);
      await this.#failRound(round.id, `secure aggregation could not start: ${message}`, null);
    }
  }

  /**
   * The live round for a check-in, or null when the round is open but this
   * process holds nothing for it (then it is failed 'coordinator_restarted').
   */
  async forCheckIn(round: Round): Promise<SecAggRound | null> {
    const state = this.#rounds.get(round.id);
    if (state) return state;
    await this.#failRestarted(round.id);
    return null;
  }

  /**
   * What a device route for `roundId` works on, after the 404 / 403 checks:
   * a round this process runs (the device must be selected), or the stored
   * answer of one that aborted. A finished round is a 409 round_closed.
   */
  async target(roundId: string, deviceId: string): Promise<SecAggRouteTarget> {
    const state = this.#rounds.get(roundId);
    if (state) {
      state.requireSelected(deviceId);
      return state.aborted ? { round: null, aborted: state.aborted } : { round: state, aborted: null };
    }
    const { store } = this.o;
    const round = await store.getRound(roundId);
    if (!round) throw new ApiError('round_not_found', `no round ${roundId}`);
    if (!(await store.getParticipant(roundId, deviceId)))
      throw new ApiError('not_selected', `device ${deviceId} was not selected for round ${roundId}`);
    const task = await store.getTask(round.taskId);
    if (!task?.plan.secureAggregation)
      throw new ApiError('conflict', `round ${roundId} does not run secure aggregation; upload to its updates route`);
    if (round.status === 'open' || round.status === 'closing') await this.#failRestarted(roundId);
    const stats = await store.getSecAggRoundStats(roundId);
    if (stats?.abortReason) {
      const failed = await store.getRound(roundId);
      return {
        round: null,
        aborted: { status: 'aborted', reason: stats.abortReason, message: failed?.failureReason ?? stats.abortReason },
      };
    }
    throw new ApiError('round_closed', `round ${roundId} is over (${round.status}); check in for the next one`);
  }

  /** Resolves once the round's transitions queued so far have run (tests, shutdown). */
  whenIdle(roundId: string): Promise<void> {
    return this.#transitions.get(roundId) ?? Promise.resolve();
  }

  /**
   * Closes the round's phase in progress if it is due (complete or past its
   * deadline), and the next ones while they are due too; aborts, or
   * publishes, the round at its end. One transition per round at a time.
   */
  advance(roundId: string, force = false): Promise<void> {
    const previous = this.#transitions.get(roundId) ?? Promise.resolve();
    const next = previous.then(() => this.#advanceNow(roundId, force));
    const settled = next.catch((err) =>
      this.o.log.error({ err, round: roundId }, 'secure-aggregation transition failed'),
    );
    this.#transitions.set(roundId, settled);
    void settled.then(() => {
      if (this.#transitions.get(roundId) === settled && !this.#rounds.has(roundId)) this.#transitions.delete(roundId);
    });
    return next;
  }

  async #advanceNow(roundId: string, force: boolean): Promise<void> {
    for (let closed = 0; ; closed++) {
      const state = this.#rounds.get(roundId);
      if (!state) return;
      if (state.aborted) return this.#endAborted(state);
      const deadline = state.phaseDeadline;
      if (deadline === null) return;
      if (!(force && closed === 0) && !state.phaseComplete && this.o.now() < deadline) return;
      const result = await state.closePhase();
      if (state.aborted) return this.#endAborted(state);
      await this.o.store.putSecAggRoundStats(roundId, state.stats());
      this.o.log.info({ round: roundId, ...state.stats() }, 'secure-aggregation phase closed');
      if (result) return this.#endFinished(state, result);
    }
  }

  /** The sweep: aborts rounds whose task stopped, then closes every phase that is due. */
  async sweep(): Promise<void> {
    for (const state of [...this.#rounds.values()]) {
      if (!state.aborted) {
        const task = await this.o.store.getTask(state.taskId);
        if (task && task.status !== 'active')
          state.abort('task_stopped', `the task turned ${task.status} during the round`);
      }
      await this.advance(state.roundId);
    }
  }

  /** At start: every open or closing secure-aggregation round this process holds nothing for fails 'coordinator_restarted'. */
  async failOrphans(): Promise<void> {
    const rounds = await this.o.store.listRounds({ status: ['open', 'closing'], limit: 1000 });
    for (const round of rounds) {
      if (this.#rounds.has(round.id)) continue;
      const task = await this.o.store.getTask(round.taskId);
      if (task?.plan.secureAggregation) await this.#failRestarted(round.id);
    }
  }

  /** Waits for every transition in flight (RoundService.stop). */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.#transitions.values()]);
  }

  async #failRestarted(roundId: string): Promise<void> {
    const stats = (await this.o.store.getSecAggRoundStats(roundId)) ?? {
      phase: 'aborted' as const,
      selected: 0,
      advertised: 0,
      shared: 0,
      masked: 0,
      unmasked: 0,
      abortReason: null,
      epsilonSpent: null,
    };
    if (stats.abortReason) return;
    const aborted = { ...stats, phase: 'aborted' as const, abortReason: 'coordinator_restarted' as const };
    await this.#failRound(roundId, secureAggregationFailure('coordinator_restarted', RESTARTED), aborted);
  }

  async #endAborted(state: SecAggRound): Promise<void> {
    const aborted = state.aborted!;
    try {
      await this.#failRound(state.roundId, secureAggregationFailure(aborted.reason, aborted.message), state.stats());
    } finally {
      this.#rounds.delete(state.roundId);
    }
  }

  async #endFinished(state: SecAggRound, result: Parameters<typeof publishSecAggRound>[0]['result']): Promise<void> {
    const { store, metrics, log } = this.o;
    try {
      const published = await publishSecAggRound({ store, metrics, state, result });
      if (!published) return;
      state.epsilonSpent = published.epsilonSpent;
      await store.putSecAggRoundStats(state.roundId, { ...state.stats(), phase: 'done' });
      metrics.openRounds.dec();
      const opened = Date.parse(published.round.startedAt);
      metrics.roundDuration.observe({ outcome: 'closed' }, (this.o.now() - opened) / 1000);
      log.info(
        { round: state.roundId, version: published.round.resultVersion, survivors: result.survivors.length },
        'secure-aggregation round closed',
      );
    } catch (error) {
      if (isStoreError(error)) throw error;
      const message = error instanceof Error ? error.message : String(error);
      log.error({ err: error, round: state.roundId }, 'secure-aggregation round failed after unmasking');
      await this.#failRound(state.roundId, `aggregation failed: ${message}`, null);
    } finally {
      this.#rounds.delete(state.roundId);
    }
  }

  /** Ends the round `failed` (from open or closing) with its reason and, when given, its final stats. */
  async #failRound(
    roundId: string,
    failureReason: string,
    stats: ReturnType<SecAggRound['stats']> | null,
  ): Promise<void> {
    const { store, metrics, log } = this.o;
    if (stats) await store.putSecAggRoundStats(roundId, stats);
    const failed = await store.finishRound(roundId, {
      from: ['open', 'closing'],
      to: 'failed',
      failureReason,
      metrics: {
        reports: stats?.masked ?? 0,
        error: 'secure_aggregation',
        ...(stats ? { secureAggregation: stats } : {}),
      },
    });
    if (!failed) return;
    await store.appendAudit({
      actor: 'system',
      action: 'round.failed',
      target: roundId,
      details: { task: failed.taskId, reason: failureReason },
    });
    metrics.openRounds.dec();
    metrics.roundDuration.observe({ outcome: 'failed' }, (this.o.now() - Date.parse(failed.startedAt)) / 1000);
    log.warn({ round: roundId, reason: failureReason }, 'secure-aggregation round failed');
  }
}
