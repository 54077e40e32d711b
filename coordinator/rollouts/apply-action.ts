/**
 * Applies a rollout decision inside a transition's `tx`: advance a stage,
 * promote the candidate, roll back, abort or halt. Each first makes the
 * guarded row update (status and stage the decision was drawn from): on
 * PostgreSQL it takes the row lock, so a second process applying the same
 * decision fails there, before it publishes anything, and the whole
 * transaction rolls back.
 */
import { changeStage, publishManifest } from '../registry/publish.ts';
import { LIVE_ROLLOUT_STATUSES, type Rollout, type RolloutStatus, type StoreOps } from '../store/index.ts';
import type { RolloutAction } from './decide.ts';
import { publishCohortManifest } from './rollout-manifests.ts';
import { announce, versionOf, type AfterCommit, type RolloutContext } from './rollout-transition.ts';
import { shadowOf } from './shadow.ts';

/** What `decideNext` said, applied to the rollout it was drawn from. */
export async function applyAction(
  ctx: RolloutContext,
  tx: StoreOps,
  after: AfterCommit,
  rollout: Rollout,
  action: RolloutAction,
  actor: string,
): Promise<Rollout> {
  switch (action.kind) {
    case 'wait':
      return rollout;
    case 'advance': {
      await tx.updateRollout(
        rollout.id,
        { stageIndex: action.toStageIndex, stageStartedAt: ctx.now().toISOString() },
        { ifStatus: ['running'], ifStageIndex: rollout.stageIndex },
      );
      const candidate = await versionOf(tx, rollout.app, rollout.candidateVersion);
      const canary = await publishCohortManifest(tx, ctx.signing, candidate, rollout.id, 'canary', {
        shadow: shadowOf(rollout) !== null,
      });
      const updated = await tx.updateRollout(rollout.id, { canaryGeneration: canary.generation });
      await tx.appendAudit({
        actor,
        action: 'rollout.advance',
        target: rollout.id,
        details: {
          fromPercent: rollout.stages[rollout.stageIndex],
          toPercent: rollout.stages[action.toStageIndex],
          canaryGeneration: canary.generation,
        },
      });
      announce(ctx, after, rollout.app, canary.generation, 'rollout.advance');
      return updated;
    }
    case 'promote':
      return promoteNow(ctx, tx, after, rollout, actor, 'all stages passed', ['running']);
    case 'rollback':
      return endWithControl(ctx, tx, after, rollout, actor, 'rolled_back', action.reason);
    case 'halt': {
      const updated = await tx.updateRollout(
        rollout.id,
        { status: 'halted', reason: action.reason },
        { ifStatus: ['running'], ifStageIndex: rollout.stageIndex },
      );
      await tx.appendAudit({ actor, action: 'rollout.halt', target: rollout.id, details: { reason: action.reason } });
      after(() => ctx.log.warn({ rolloutId: rollout.id, reason: action.reason }, 'rollout halted'));
      return updated;
    }
  }
}

/** Status, production stage and the new production manifest in one commit: nobody is served the last canary manifest as "latest". */
export async function promoteNow(
  ctx: RolloutContext,
  tx: StoreOps,
  after: AfterCommit,
  rollout: Rollout,
  actor: string,
  reason: string,
  from: RolloutStatus[],
): Promise<Rollout> {
  const updated = await tx.updateRollout(
    rollout.id,
    { status: 'completed', reason, endedAt: ctx.now().toISOString() },
    { ifStatus: from },
  );
  await changeStage(tx, ctx.signing, {
    app: rollout.app,
    version: rollout.candidateVersion,
    stage: 'production',
    actor,
    reason: `rollout ${rollout.id}: ${reason}`,
  });
  const latest = await tx.latestManifest(rollout.app);
  await tx.appendAudit({
    actor,
    action: 'rollout.promote',
    target: rollout.id,
    details: { version: rollout.candidateVersion, generation: latest?.generation ?? null, reason },
  });
  if (latest) announce(ctx, after, rollout.app, latest.generation, 'rollout.promote');
  return updated;
}

/**
 * Rollback and abort: everyone back on the control version, in a NEWER
 * generation than any canary one, committed with the status (else control
 * devices would be served the canary manifest as the app's latest meanwhile).
 */
export async function endWithControl(
  ctx: RolloutContext,
  tx: StoreOps,
  after: AfterCommit,
  rollout: Rollout,
  actor: string,
  status: 'rolled_back' | 'aborted',
  reason: string,
): Promise<Rollout> {
  const updated = await tx.updateRollout(
    rollout.id,
    { status, reason, endedAt: ctx.now().toISOString() },
    { ifStatus: [...LIVE_ROLLOUT_STATUSES] },
  );
  const control = await versionOf(tx, rollout.app, rollout.controlVersion);
  const record = await publishManifest(tx, ctx.signing, control);
  await changeStage(tx, ctx.signing, {
    app: rollout.app,
    version: rollout.candidateVersion,
    stage: status === 'rolled_back' ? 'archived' : 'candidate',
    actor,
    reason: `rollout ${rollout.id} ${status}: ${reason}`,
  });
  await tx.appendAudit({
    actor,
    action: status === 'rolled_back' ? 'rollout.rollback' : 'rollout.abort',
    target: rollout.id,
    details: { toVersion: control.version, generation: record.generation, reason },
  });
  after(() => ctx.log.warn({ rolloutId: rollout.id, status, reason }, 'rollout ended on the control version'));
  announce(ctx, after, rollout.app, record.generation, `rollout.${status}`);
  return updated;
}
