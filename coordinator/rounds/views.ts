/**
 * Store rows -> the wire views of shared/protocol (names and states differ:
 * the store says 'closing' and 'done', the API 'aggregating' and 'completed').
 */
import type { RoundView, TaskView } from '../../shared/protocol/index.ts';
import type { Round, Task } from '../store/index.ts';

export function roundView(round: Round): RoundView {
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
  };
}

export function taskView(
  task: Task,
  extra: { roundsCompleted: number; currentRound: Round | null },
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
    currentRound: extra.currentRound ? roundView(extra.currentRound) : null,
    privacySpent:
      plan.noiseMultiplier > 0 ? { epsilon: task.epsilonSpent, delta: plan.privacyBudget?.delta ?? 1e-5 } : null,
    clipNorm: task.clipNorm,
  };
}
