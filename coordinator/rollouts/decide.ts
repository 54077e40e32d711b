/**
 * What a rollout does next, given its state and the latest verdict. Pure, so
 * every branch is tested without clocks or databases. A failing canary is
 * rolled back at once (no minimum duration protects a bad model); a passing
 * one advances only after the stage's minimum duration and exposure.
 */
import type { Rollout } from '../store/index.ts';
import type { CanaryVerdict } from './canary-analysis.ts';

export type RolloutAction =
  | { kind: 'wait'; reason: string }
  | { kind: 'advance'; toStageIndex: number }
  | { kind: 'promote' }
  | { kind: 'rollback'; reason: string }
  | { kind: 'halt'; reason: string };

/**
 * Stages whose canary is analysed: all below 100% (reaching 100% is the
 * promotion itself), at least one. Canary analysis spends alpha / this per stage.
 * @example
 * analysedStageCount([5, 25, 50, 100]) // 3
 */
export function analysedStageCount(stages: readonly number[]): number {
  return Math.max(1, stages.filter((p) => p < 100).length);
}

export type DecisionState = Pick<
  Rollout,
  'status' | 'stages' | 'stageIndex' | 'stageStartedAt' | 'minStageSeconds' | 'minSamples'
>;

/**
 * @example
 * decideNext(rollout, analyzeCanary(...), canaryExposed, new Date()) // { kind: 'advance', toStageIndex: 1 }
 */
export function decideNext(
  state: DecisionState,
  verdict: CanaryVerdict,
  canaryExposed: number,
  now: Date,
): RolloutAction {
  if (state.status !== 'running') return { kind: 'wait', reason: `rollout is ${state.status}` };
  if (verdict.verdict === 'srm') return { kind: 'halt', reason: verdict.reasons.join('; ') };
  if (verdict.verdict === 'fail') return { kind: 'rollback', reason: verdict.reasons.join('; ') };
  if (verdict.verdict !== 'pass')
    return {
      kind: 'wait',
      reason: `verdict ${verdict.verdict}${verdict.reasons.length ? `: ${verdict.reasons.join('; ')}` : ''}`,
    };
  const elapsedSeconds = (now.getTime() - Date.parse(state.stageStartedAt)) / 1000;
  if (elapsedSeconds < state.minStageSeconds)
    return {
      kind: 'wait',
      reason: `stage ${state.stageIndex + 1} has run ${elapsedSeconds.toFixed(0)} s of ${state.minStageSeconds} s`,
    };
  if (canaryExposed < state.minSamples)
    return { kind: 'wait', reason: `${canaryExposed} of ${state.minSamples} canary devices exposed` };
  const next = state.stageIndex + 1;
  // Everyone on the candidate is what production means: the 100% stage is the promotion itself.
  if (next >= state.stages.length || state.stages[next] >= 100) return { kind: 'promote' };
  return { kind: 'advance', toStageIndex: next };
}
