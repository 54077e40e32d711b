/**
 * One evaluation of a rollout, as a pipeline: gather the evidence of the
 * current stage (cohort summaries -> canary verdict), decide what follows
 * (decide.ts, pure), and apply it in one transition that first records the
 * verdict on the very state it was drawn from. If another process or an
 * operator moved the rollout meanwhile, nothing is applied and the next
 * evaluation judges the new state.
 */
import type { RolloutVerdict } from '../../shared/protocol/index.ts';
import { isStoreError, LIVE_ROLLOUT_STATUSES, type Rollout, type Store } from '../store/index.ts';
import { applyAction } from './apply-action.ts';
import { analyzeCanary, type CanaryVerdict } from './canary-analysis.ts';
import { analysedStageCount, decideNext, type RolloutAction } from './decide.ts';
import { resolveMetricRules, type MetricRulesInput } from './metric-rules.ts';
import { readCohorts } from './rollout-telemetry.ts';
import { mustGetRollout, runTransition, type RolloutContext } from './rollout-transition.ts';

export interface Evaluation {
  rollout: Rollout;
  verdict: CanaryVerdict | null;
  action: RolloutAction;
}

/** The current stage's evidence: the canary verdict and how many canary devices were exposed. */
export interface StageEvidence {
  percent: number;
  verdict: CanaryVerdict;
  canaryExposed: number;
}

/** Reads the stage's telemetry per cohort and analyses canary against control. */
export async function gatherEvidence(store: Store, rollout: Rollout): Promise<StageEvidence> {
  const percent = rollout.stages[rollout.stageIndex];
  const { canary, control } = await readCohorts(store, rollout);
  const verdict = analyzeCanary({
    canary,
    control,
    expectedCanaryShare: percent / 100,
    rules: resolveMetricRules(rollout.metrics as MetricRulesInput),
    analysedStages: analysedStageCount(rollout.stages),
  });
  return { percent, verdict, canaryExposed: canary.exposedDevices };
}

/**
 * What the evaluation stores as `lastVerdict` (and the admin views serve):
 * the verdict with its evidence, the stage it judged, and the action taken.
 * @example
 * verdictRecord(rollout, evidence, { kind: 'wait', reason: '5 of 50 canary devices exposed' }, now).action.kind // 'wait'
 */
export function verdictRecord(
  rollout: Pick<Rollout, 'stageIndex'>,
  evidence: Pick<StageEvidence, 'percent' | 'verdict'>,
  action: RolloutAction,
  now: Date,
): RolloutVerdict {
  return {
    at: now.toISOString(),
    stageIndex: rollout.stageIndex,
    percent: evidence.percent,
    ...evidence.verdict,
    action,
  };
}

/**
 * Analyses the current stage and applies the decision (only while running).
 * The caller serialises evaluations and operator actions per rollout.
 */
export async function evaluateRollout(ctx: RolloutContext, id: string): Promise<Evaluation> {
  const rollout = await mustGetRollout(ctx.store, id);
  if (!LIVE_ROLLOUT_STATUSES.includes(rollout.status)) {
    return { rollout, verdict: null, action: { kind: 'wait', reason: `rollout is ${rollout.status}` } };
  }
  const evidence = await gatherEvidence(ctx.store, rollout);
  const { verdict } = evidence;
  const now = ctx.now();
  const action = decideNext(rollout, verdict, evidence.canaryExposed, now);
  const record = verdictRecord(rollout, evidence, action, now);
  try {
    const updated = await runTransition(ctx.store, async (tx, after) => {
      // The verdict, and what it decides, land only on the state they were drawn from.
      const noted = await tx.updateRollout(
        id,
        { lastVerdict: record },
        { ifStatus: [rollout.status], ifStageIndex: rollout.stageIndex },
      );
      return rollout.status === 'running' ? applyAction(ctx, tx, after, noted, action, 'system') : noted;
    });
    return { rollout: updated, verdict, action };
  } catch (error) {
    if (!isStoreError(error, 'conflict')) throw error;
    // Another process (or an operator) moved the rollout while this one analysed it.
    const moved = await mustGetRollout(ctx.store, id);
    return {
      rollout: moved,
      verdict,
      action: {
        kind: 'wait',
        reason: `rollout changed while it was evaluated (now ${moved.status} at stage ${moved.stageIndex + 1}); the next evaluation judges that`,
      },
    };
  }
}
