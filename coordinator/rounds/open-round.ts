/**
 * Opening a task's next round: one opener per task at a time in this
 * process, and a round id derived from the previous round so that two
 * processes opening at once collide on the primary key instead of opening
 * two rounds. A round that would exceed the task's privacy budget is not
 * opened; the task turns budget_exhausted. A secure-aggregation round is
 * checked against the budget with its own DDG event, and `onOpened` makes its
 * signed configuration before any device is answered.
 */
import type { TaskPlan } from '../../shared/protocol/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { CoordinatorMetrics } from '../observability/metrics.ts';
import { isStoreError, type Round, type Store, type Task } from '../store/index.ts';
import { requireModelVersion } from './admit-upload.ts';
import { selectionLimit } from './pace.ts';
import { nextRoundPrivacy } from './privacy-budget.ts';
import { roundDdg } from './secure-aggregation/round-ddg.ts';

export interface RoundOpenerOptions {
  store: Store;
  log: Logger;
  metrics: CoordinatorMetrics;
  now(): number;
  /** Runs once for a secure-aggregation round this opener created, before it is returned (its configuration). */
  onOpened?: (round: Round, task: Task) => Promise<void>;
}

/** The task's open round, or why there is none to join. */
export type OpenRoundResult = Round | 'budget_exhausted' | 'closing';

export class RoundOpener {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly o: RoundOpenerOptions) {}

  /** Finds the task's open round or opens one, one opener per task at a time. */
  open(task: Task, plan: TaskPlan): Promise<OpenRoundResult> {
    const previous = this.locks.get(task.id) ?? Promise.resolve();
    const attempt = previous.then(() => this.openNow(task, plan));
    this.locks.set(
      task.id,
      attempt.catch(() => undefined),
    );
    return attempt;
  }

  private async openNow(task: Task, plan: TaskPlan): Promise<OpenRoundResult> {
    const { store, log, metrics } = this.o;
    const latest = await store.latestRound(task.id);
    if (latest?.status === 'open' && Date.parse(latest.deadlineAt) > this.o.now()) return latest;
    if (latest?.status === 'open' || latest?.status === 'closing') return 'closing';
    const fresh = (await store.getTask(task.id))!;
    // A secure-aggregation round is charged its DDG event (no central noise), sized by the model it trains.
    const event = plan.secureAggregation
      ? (await roundDdg(store, fresh, await requireModelVersion(store, fresh.app, fresh.currentVersion))).event
      : undefined;
    const privacy = nextRoundPrivacy(plan, fresh.accountant, event);
    if (!privacy.allowed) {
      await store.updateTask(task.id, { status: 'budget_exhausted' }, { ifStatus: ['active'] }).catch(() => undefined);
      await store.appendAudit({
        actor: 'system',
        action: 'task.budget_exhausted',
        target: task.id,
        details: {
          epsilonSpent: fresh.epsilonSpent,
          epsilonNext: privacy.epsilonAfter,
          budget: plan.privacyBudget ?? null,
        },
      });
      log.warn({ task: task.id, epsilonNext: privacy.epsilonAfter }, 'privacy budget exhausted; no new round');
      return 'budget_exhausted';
    }
    // The id is derived from the previous round, so two processes opening the
    // next round of a task at once collide on the primary key: one creates it,
    // the other reads it back (the per-process lock above cannot see the other).
    const id = `rnd_${task.id}.${(latest?.number ?? 0) + 1}`;
    let created = false;
    const round = await store
      .createRound({
        id,
        taskId: task.id,
        globalVersion: fresh.currentVersion,
        goal: plan.clientsPerRound,
        selectionLimit: selectionLimit(plan.clientsPerRound, plan.overSelection),
        deadlineAt: new Date(this.o.now() + plan.roundDeadlineSeconds * 1000).toISOString(),
      })
      .then((r) => {
        created = true;
        return r;
      })
      .catch(async (error: unknown) => {
        if (!isStoreError(error, 'conflict')) throw error;
        const other = await store.getRound(id);
        if (!other) throw error;
        return other;
      });
    if (round.status !== 'open') return 'closing';
    metrics.openRounds.inc();
    if (created && plan.secureAggregation && this.o.onOpened) {
      await this.o.onOpened(round, fresh);
      const now = await store.getRound(round.id);
      if (now?.status !== 'open') return 'closing';
    }
    log.info({ task: task.id, round: round.id, number: round.number, version: round.globalVersion }, 'round opened');
    return round;
  }
}
