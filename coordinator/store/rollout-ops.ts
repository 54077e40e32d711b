/**
 * Rollout rows: create, read, list and conditional update (`ifStatus`,
 * `ifStageIndex`), so two coordinator processes evaluating the same rollout
 * cannot both advance it: the UPDATE re-checks its WHERE under the row lock.
 */
import type { Selectable } from 'kysely';
import type { RolloutVerdict } from '../../shared/protocol/index.ts';
import type { OpsContext } from './context.ts';
import { pageLimit } from './context.ts';
import { StoreError } from './errors.ts';
import { fromJson, toJson } from './rows.ts';
import { ROLLOUT_STATUSES, type Rollout, type RolloutStatus } from './rollout-types.ts';
import type { RolloutsTable } from './schema.ts';
import type { StoreOps } from './store.ts';
import type { JsonObject } from './types.ts';

type RolloutOps = Pick<StoreOps, 'createRollout' | 'getRollout' | 'listRollouts' | 'updateRollout'>;

const numOrNull = (v: number | string | null): number | null => (v === null ? null : Number(v));

function toRollout(r: Selectable<RolloutsTable>): Rollout {
  return {
    id: r.id,
    app: r.app,
    candidateVersion: Number(r.candidate_version),
    controlVersion: Number(r.control_version),
    status: r.status as RolloutStatus,
    stages: fromJson<number[]>(r.stages, 'rollouts.stages'),
    stageIndex: Number(r.stage_index),
    stageStartedAt: r.stage_started_at,
    minStageSeconds: Number(r.min_stage_seconds),
    minSamples: Number(r.min_samples),
    metrics: fromJson<JsonObject>(r.metrics, 'rollouts.metrics'),
    shadow: r.shadow === null ? null : fromJson<JsonObject>(r.shadow, 'rollouts.shadow'),
    canaryGeneration: numOrNull(r.canary_generation),
    controlGeneration: numOrNull(r.control_generation),
    lastVerdict: r.last_verdict === null ? null : fromJson<RolloutVerdict>(r.last_verdict, 'rollouts.last_verdict'),
    reason: r.reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    endedAt: r.ended_at,
  };
}

function assertStatus(status: string): void {
  if (!(ROLLOUT_STATUSES as readonly string[]).includes(status)) {
    throw new StoreError(
      'invalid',
      `Unknown rollout status ${JSON.stringify(status)}; use one of ${ROLLOUT_STATUSES.join(', ')}.`,
    );
  }
}

export function rolloutOps(ctx: OpsContext): RolloutOps {
  return {
    async createRollout(input) {
      if (input.stages.length === 0 || input.stages.some((p) => !(p > 0 && p <= 100))) {
        throw new StoreError(
          'invalid',
          `Rollout stages must be percentages in (0, 100], got ${JSON.stringify(input.stages)}.`,
        );
      }
      const at = ctx.now();
      const row: RolloutsTable = {
        id: input.id,
        app: input.app,
        candidate_version: input.candidateVersion,
        control_version: input.controlVersion,
        status: 'running',
        stages: toJson(input.stages),
        stage_index: 0,
        stage_started_at: at,
        min_stage_seconds: input.minStageSeconds,
        min_samples: input.minSamples,
        metrics: toJson(input.metrics),
        shadow: input.shadow ? toJson(input.shadow) : null,
        canary_generation: null,
        control_generation: null,
        last_verdict: null,
        reason: null,
        created_at: at,
        updated_at: at,
        ended_at: null,
      };
      await ctx.db.insertInto('rollouts').values(row).execute();
      return toRollout(row);
    },
    async getRollout(id) {
      const row = await ctx.db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toRollout(row) : null;
    },
    async listRollouts(query = {}) {
      let q = ctx.db.selectFrom('rollouts').selectAll();
      if (query.app !== undefined) q = q.where('app', '=', query.app);
      if (query.status !== undefined) {
        if (query.status.length === 0) return [];
        q = q.where('status', 'in', query.status);
      }
      const rows = await q.orderBy('created_at', 'desc').orderBy('id').limit(pageLimit(query.limit)).execute();
      return rows.map(toRollout);
    },
    async updateRollout(id, patch, options = {}) {
      if (patch.status !== undefined) assertStatus(patch.status);
      if (options.ifStatus?.length === 0) throw new StoreError('invalid', 'ifStatus must list at least one status.');
      const set: Partial<RolloutsTable> = { updated_at: ctx.now() };
      if (patch.status !== undefined) set.status = patch.status;
      if (patch.stageIndex !== undefined) set.stage_index = patch.stageIndex;
      if (patch.stageStartedAt !== undefined) set.stage_started_at = patch.stageStartedAt;
      if (patch.canaryGeneration !== undefined) set.canary_generation = patch.canaryGeneration;
      if (patch.controlGeneration !== undefined) set.control_generation = patch.controlGeneration;
      if (patch.lastVerdict !== undefined)
        set.last_verdict = patch.lastVerdict === null ? null : toJson(patch.lastVerdict);
      if (patch.reason !== undefined) set.reason = patch.reason;
      if (patch.endedAt !== undefined) set.ended_at = patch.endedAt;
      return ctx.atomic(async (db) => {
        let q = db.updateTable('rollouts').set(set).where('id', '=', id);
        if (options.ifStatus !== undefined) q = q.where('status', 'in', options.ifStatus);
        if (options.ifStageIndex !== undefined) q = q.where('stage_index', '=', options.ifStageIndex);
        const result = await q.executeTakeFirst();
        const row = await db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new StoreError('not_found', `Rollout ${id} does not exist.`, { id });
        if (Number(result.numUpdatedRows) === 0) {
          const wanted = [
            options.ifStatus && options.ifStatus.join(' or '),
            options.ifStageIndex !== undefined && `at stage index ${options.ifStageIndex}`,
          ]
            .filter(Boolean)
            .join(', ');
          throw new StoreError(
            'conflict',
            `Rollout ${id} is ${row.status} at stage index ${row.stage_index}, not ${wanted}; it changed meanwhile, reload it.`,
            { id, status: row.status, stageIndex: Number(row.stage_index) },
          );
        }
        return toRollout(row);
      });
    },
  };
}
