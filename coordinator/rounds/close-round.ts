/**
 * Closing one round, once it turned 'closing': too few reports end it
 * `failed`; otherwise its aggregate is gathered and published as the next
 * model version. An aggregation error ends it `failed` with the reason
 * stored (and pauses the task when the next round would fail the same way);
 * a store error is left to the sweep's recovery.
 */
import type { Logger } from '../observability/logger.ts';
import type { CoordinatorMetrics } from '../observability/metrics.ts';
import { isStoreError, type Round, type Store } from '../store/index.ts';
import { requireModelVersion } from './admit-upload.ts';
import type { PartialExchange } from './partial-exchange.ts';
import { publishRoundResult } from './publish-round.ts';
import { gatherAggregate } from './round-aggregate.ts';
import { failureCode, repeatsEveryRound } from './round-failure.ts';
import type { RoundFolds } from './round-folds.ts';

/** Why a round closes. */
export type CloseReason = 'quorum' | 'deadline' | 'recovery' | 'manual';

export interface CloseContext {
  store: Store;
  log: Logger;
  metrics: CoordinatorMetrics;
  now(): number;
  folds: RoundFolds;
  /** Null when this process is alone on its store. */
  partials: PartialExchange | null;
}

/**
 * Closes a round; when aggregating it fails, the round ends `failed` with the
 * reason stored instead of staying in 'closing' (where every sweep would
 * retry it, and fail again, for good). A store error is left to the sweep's
 * recovery: the next attempt may well succeed.
 */
export async function closeRoundOnce(ctx: CloseContext, roundId: string, reason: CloseReason): Promise<Round | null> {
  try {
    return await closeOnce(ctx, roundId, reason);
  } catch (error) {
    if (isStoreError(error)) throw error;
    return failAggregation(ctx, roundId, error);
  }
}

/** Ends a 'closing' round `failed` after its aggregation threw; pauses the task when the next round would fail the same way. */
async function failAggregation(ctx: CloseContext, roundId: string, error: unknown): Promise<Round | null> {
  const { store } = ctx;
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
  ctx.metrics.roundDuration.observe({ outcome: 'failed' }, (ctx.now() - Date.parse(round.startedAt)) / 1000);
  ctx.log.error({ err: error, round: roundId }, 'round failed: aggregation error');
  if (repeatsEveryRound(error))
    await pauseTask(
      ctx,
      round.taskId,
      `round ${round.number} failed and the next would fail the same way: ${failureReason}`,
    );
  return failed;
}

/** Pauses an active task for a reason the operator reads in its view and the audit log. */
async function pauseTask(ctx: CloseContext, taskId: string, reason: string): Promise<void> {
  const paused = await ctx.store.updateTask(taskId, { status: 'paused' }, { ifStatus: ['active'] }).then(
    () => true,
    () => false,
  );
  if (!paused) return;
  await ctx.store.appendAudit({ actor: 'system', action: 'task.pause', target: taskId, details: { reason } });
  ctx.log.warn({ task: taskId, reason }, 'task paused');
}

async function closeOnce(ctx: CloseContext, roundId: string, reason: CloseReason): Promise<Round | null> {
  const { store, log, metrics } = ctx;
  const before = await store.getRound(roundId);
  if (!before) return null;
  if (before.status === 'open') {
    if (!(await store.beginClosing(roundId))) {
      // Another process closes it: hand over our partial sum now instead of waiting for its request.
      await ctx.partials
        ?.flush(roundId)
        .catch((err) => log.error({ err, round: roundId }, 'flushing a partial sum failed'));
      return store.getRound(roundId);
    }
  } else if (before.status !== 'closing') {
    return before;
  }
  const started = ctx.now();
  const round = (await store.getRound(roundId))!;
  const task = (await store.getTask(round.taskId))!;
  const plan = task.plan;
  const updates = await store.listUpdates(roundId);
  const outcomeSeconds = (ctx.now() - Date.parse(round.startedAt)) / 1000;
  metrics.openRounds.dec();

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
    metrics.roundDuration.observe({ outcome: 'failed' }, outcomeSeconds);
    log.warn({ round: roundId, reports: updates.length, minReports: plan.minReports }, 'round failed: too few reports');
    return failed;
  }

  const version = await requireModelVersion(store, task.app, round.globalVersion);
  const specs = version.weightSpecs;
  const clipNorm = task.clipNorm ?? plan.clipNorm;
  const fold = ctx.folds.of(round.id, plan, specs, clipNorm);
  const { aggregate, sources, shareBound } = await gatherAggregate({
    store,
    log,
    now: ctx.now,
    roundId,
    plan,
    specs,
    updates,
    fold,
    partials: ctx.partials,
  });

  const closed = await publishRoundResult({
    store,
    metrics,
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
  await ctx.partials?.discard(roundId);
  metrics.roundDuration.observe({ outcome: 'closed' }, outcomeSeconds);
  log.info(
    {
      round: roundId,
      version: closed?.resultVersion,
      reports: updates.length,
      ms: ctx.now() - started,
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
