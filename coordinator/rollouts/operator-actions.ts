/**
 * What an operator may do to a rollout by hand: pause and resume (no
 * manifest changes, so plain guarded updates), and promote or abort now
 * (transitions, like the automatic ones). The caller serialises them with
 * evaluations per rollout.
 */
import { ApiError } from '../http/api-error.ts';
import { LIVE_ROLLOUT_STATUSES, type Rollout } from '../store/index.ts';
import { endWithControl, promoteNow } from './apply-action.ts';
import { mustGetRollout, runTransition, type RolloutContext } from './rollout-transition.ts';

/** running -> paused: no automatic transitions until resumed. */
export async function pauseRollout(ctx: RolloutContext, id: string, actor: string, reason?: string): Promise<Rollout> {
  const r = await mustGetRollout(ctx.store, id);
  if (r.status === 'paused') return r;
  if (r.status !== 'running')
    throw new ApiError('conflict', `rollout ${id} is ${r.status}; only a running rollout can be paused`);
  const updated = await ctx.store.updateRollout(id, { status: 'paused' }, { ifStatus: ['running'] });
  await ctx.store.appendAudit({ actor, action: 'rollout.pause', target: id, details: reason ? { reason } : {} });
  return updated;
}

/** paused / halted -> running, with a fresh stage window so old (possibly mismatched) evidence is not reused. */
export async function resumeRollout(ctx: RolloutContext, id: string, actor: string, reason?: string): Promise<Rollout> {
  const r = await mustGetRollout(ctx.store, id);
  if (r.status === 'running') return r;
  if (r.status !== 'paused' && r.status !== 'halted')
    throw new ApiError('conflict', `rollout ${id} is ${r.status}; only a paused or halted rollout can resume`);
  const updated = await ctx.store.updateRollout(
    id,
    { status: 'running', stageStartedAt: ctx.now().toISOString(), reason: null },
    { ifStatus: ['paused', 'halted'] },
  );
  await ctx.store.appendAudit({
    actor,
    action: 'rollout.resume',
    target: id,
    details: { from: r.status, ...(reason ? { reason } : {}) },
  });
  return updated;
}

/** Operator override: the candidate goes to production now. */
export async function promoteRollout(
  ctx: RolloutContext,
  id: string,
  actor: string,
  reason?: string,
): Promise<Rollout> {
  const r = await mustGetRollout(ctx.store, id);
  if (!LIVE_ROLLOUT_STATUSES.includes(r.status))
    throw new ApiError('conflict', `rollout ${id} is ${r.status}; it can no longer be promoted`);
  const why = reason ? `promoted by operator: ${reason}` : 'promoted by operator';
  return runTransition(ctx.store, (tx, after) => promoteNow(ctx, tx, after, r, actor, why, [...LIVE_ROLLOUT_STATUSES]));
}

/** Operator override: everyone back on the control version; the candidate returns to 'candidate'. */
export async function abortRollout(ctx: RolloutContext, id: string, actor: string, reason?: string): Promise<Rollout> {
  const r = await mustGetRollout(ctx.store, id);
  if (!LIVE_ROLLOUT_STATUSES.includes(r.status))
    throw new ApiError('conflict', `rollout ${id} is ${r.status}; it has already ended`);
  const why = reason ? `aborted by operator: ${reason}` : 'aborted by operator';
  return runTransition(ctx.store, (tx, after) => endWithControl(ctx, tx, after, r, actor, 'aborted', why));
}
