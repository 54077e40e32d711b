/**
 * Starting a rollout: the candidate goes to 'canary', control devices keep
 * production under a rollout-tagged manifest, and the canary cohort gets the
 * candidate's, all in one commit. The checks that need no store (the stage
 * list) are a plain function; the ones that do run inside the transaction,
 * after the control manifest has locked the app's generation counter.
 */
import { newId } from '../auth/secrets.ts';
import { ApiError } from '../http/api-error.ts';
import { loadModelSpec } from '../registry/model-spec-file.ts';
import { changeStage } from '../registry/publish.ts';
import type { Rollout } from '../store/index.ts';
import { rulesForOutput, type MetricRules, type MetricRulesInput } from './metric-rules.ts';
import { DEFAULT_MIN_SAMPLES, DEFAULT_MIN_STAGE_SECONDS, DEFAULT_STAGES } from './rollout-defaults.ts';
import { liveRollout, publishCohortManifest } from './rollout-manifests.ts';
import { announce, productionOf, runTransition, versionOf, type RolloutContext } from './rollout-transition.ts';
import type { ShadowConfig } from './shadow.ts';

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

/**
 * The stages a rollout runs, or the operator's error: increasing percentages in (0, 100].
 * @example
 * checkStages(undefined) // [5, 25, 50, 100]
 * checkStages([50, 25]) // throws ApiError bad_request
 */
export function checkStages(stages: number[] = DEFAULT_STAGES): number[] {
  if (stages.length === 0 || stages.some((p, i) => !(p > 0 && p <= 100) || (i > 0 && p <= stages[i - 1]))) {
    throw new ApiError(
      'bad_request',
      `stages must be increasing percentages in (0, 100], e.g. [5, 25, 50, 100]; got ${JSON.stringify(stages)}`,
    );
  }
  return stages;
}

/**
 * @example
 * const r = await startRollout(ctx, { app: 'digits', candidateVersion: 2 }, 'admin:key_1');
 */
export async function startRollout(ctx: RolloutContext, input: StartRollout, actor: string): Promise<Rollout> {
  const stages = checkStages(input.stages);
  // A regression candidate is judged on its absolute errors, not on right-or-wrong feedback it never gets.
  const candidateRow = await ctx.store.getModelVersion(input.app, input.candidateVersion);
  const outputKind = candidateRow
    ? ((await loadModelSpec(ctx.store, candidateRow))?.output.kind ?? 'multiclass')
    : 'multiclass';
  const rules: MetricRules = rulesForOutput(outputKind, input.metrics);
  const id = newId('ro');
  return runTransition(ctx.store, async (tx, after) => {
    const candidate = await versionOf(tx, input.app, input.candidateVersion);
    const production = await productionOf(tx, input.app);
    if (production.version === candidate.version)
      throw new ApiError('conflict', `version ${candidate.version} is already in production`);
    if (candidate.stage === 'archived')
      throw new ApiError(
        'conflict',
        `version ${candidate.version} is archived; push or restore it as a candidate first`,
      );
    if (input.shadow) {
      const shadow = await versionOf(tx, input.app, input.shadow.version);
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
    const control = await publishCohortManifest(tx, ctx.signing, production, id, 'control', {
      shadow: input.shadow !== undefined,
    });
    const live = await liveRollout(tx, input.app);
    if (live)
      throw new ApiError(
        'conflict',
        `app ${input.app} already has rollout ${live.id} (${live.status}); abort or finish it first`,
      );
    if ((await productionOf(tx, input.app)).version !== production.version)
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
      metrics: rules,
      shadow: input.shadow ?? null,
    });
    const canaryVersion = await changeStage(tx, ctx.signing, {
      app: input.app,
      version: candidate.version,
      stage: 'canary',
      actor,
      reason: `rollout ${id}`,
    });
    const canary = await publishCohortManifest(tx, ctx.signing, canaryVersion, id, 'canary', {
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
    announce(ctx, after, input.app, canary.generation, 'rollout.start');
    return rollout;
  });
}
