/**
 * Store rows -> the wire views of shared/protocol (names and states differ:
 * the store says 'closing' and 'done', the API 'aggregating' and 'completed').
 * A secure-aggregation round's view carries its per-phase counts.
 */
import type { RoundView, SecAggRoundStats, TaskView } from '../../shared/protocol/index.ts';
import type { Round, Task } from '../store/index.ts';

export function roundView(round: Round, secureAggregation?: SecAggRoundStats | null): RoundView {
  return {
    id: round.id,
    taskId: round.taskId,
    roundNumber: round.number,
    state: round.status === 'closing' ? 'aggregating' : round.status,
    globalVersion: round.globalVersion,
    openedAt: round.startedAt,
    deadlineAt: round.deadlineAt,
    closedAt: round.closedAt,
    selected: round.selectedCount,
    reports: round.reportedCount,
    resultVersion: round.resultVersion,
    failureReason: round.failureReason,
    ...(secureAggregation !== undefined ? { secureAggregation } : {}),
  };
}

export function taskView(
  task: Task,
  extra: { roundsCompleted: number; currentRound: Round | null; currentRoundSecAgg?: SecAggRoundStats | null },
): TaskView & { currentVersion: number; clipNorm: number | null } {
  const plan = task.plan;
  return {
    id: task.id,
    app: task.app,
    name: task.name,
    modelVersion: task.modelVersion,
    currentVersion: task.currentVersion,
    plan,
    status: task.status === 'done' ? 'completed' : task.status,
    createdAt: task.createdAt,
    roundsCompleted: extra.roundsCompleted,
    currentRound: extra.currentRound ? roundView(extra.currentRound, extra.currentRoundSecAgg) : null,
    // Central noise, or the devices' noise under secure aggregation: either way the ledger charged it.
    privacySpent:
      plan.noiseMultiplier > 0 || (plan.secureAggregation?.noiseMultiplier ?? 0) > 0
        ? { epsilon: task.epsilonSpent, delta: plan.privacyBudget?.delta ?? 1e-5 }
        : null,
    clipNorm: task.clipNorm,
  };
}
