/**
 * Heartbeats of coordinator processes and the partial sums they flush at a
 * round's close. A partial is written once per (round, process): the primary
 * key makes a second flush a no-op, so a retried or duplicated flush request
 * cannot change what the closer reads.
 */
import { assertBlobHash } from './blob-store.ts';
import type { OpsContext } from './context.ts';
import { isoTime, isUniqueViolation } from './context.ts';
import { StoreError } from './errors.ts';
import { fromJson, toJson } from './rows.ts';
import type { RoundPartialsTable } from './schema.ts';
import type { StoreOps } from './store.ts';
import type { RoundPartial } from './partial-types.ts';

type PartialOps = Pick<
  StoreOps,
  | 'heartbeatProcess'
  | 'removeProcess'
  | 'listLiveProcesses'
  | 'putRoundPartial'
  | 'listRoundPartials'
  | 'deleteRoundPartials'
  | 'pruneRoundPartials'
>;

function toPartial(r: RoundPartialsTable): RoundPartial {
  return {
    roundId: r.round_id,
    processId: r.process_id,
    deviceIds: fromJson<string[]>(r.device_ids, 'round_partials.device_ids'),
    count: Number(r.count),
    totalWeight: Number(r.total_weight),
    boundedCount: Number(r.bounded_count),
    maxUpdateNorm: Number(r.max_update_norm),
    normBound: r.norm_bound === null ? null : Number(r.norm_bound),
    sumHash: r.sum_hash,
    createdAt: r.created_at,
  };
}

export function partialOps(ctx: OpsContext): PartialOps {
  return {
    async heartbeatProcess(id) {
      if (!id) throw new StoreError('invalid', 'A coordinator process needs a non-empty id.');
      const at = ctx.now();
      await ctx.db
        .insertInto('coordinator_processes')
        .values({ id, started_at: at, heartbeat_at: at })
        .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: at }))
        .execute();
    },
    async removeProcess(id) {
      await ctx.db.deleteFrom('coordinator_processes').where('id', '=', id).execute();
    },
    async listLiveProcesses(since) {
      const rows = await ctx.db
        .selectFrom('coordinator_processes')
        .selectAll()
        .where('heartbeat_at', '>=', isoTime(since, 'since'))
        .orderBy('id')
        .execute();
      return rows.map((r) => ({ id: r.id, startedAt: r.started_at, heartbeatAt: r.heartbeat_at }));
    },
    async putRoundPartial(p) {
      if (p.sumHash !== null) assertBlobHash(p.sumHash);
      if (
        (p.sumHash === null) !== (p.deviceIds.length === 0) ||
        p.count !== p.deviceIds.length ||
        new Set(p.deviceIds).size !== p.deviceIds.length
      ) {
        throw new StoreError(
          'invalid',
          `A round partial needs one distinct device id per counted update and a sum blob exactly when it is not empty (count ${p.count}, ${p.deviceIds.length} devices).`,
        );
      }
      const row: RoundPartialsTable = {
        round_id: p.roundId,
        process_id: p.processId,
        device_ids: toJson(p.deviceIds),
        count: p.count,
        total_weight: p.totalWeight,
        bounded_count: p.boundedCount,
        max_update_norm: p.maxUpdateNorm,
        norm_bound: p.normBound,
        sum_hash: p.sumHash,
        created_at: ctx.now(),
      };
      try {
        const result = await ctx.db
          .insertInto('round_partials')
          .values(row)
          .onConflict((oc) => oc.columns(['round_id', 'process_id']).doNothing())
          .executeTakeFirst();
        return Number(result?.numInsertedOrUpdatedRows ?? 0n) > 0;
      } catch (e) {
        if (isUniqueViolation(e)) return false;
        throw e;
      }
    },
    async listRoundPartials(roundId) {
      const rows = await ctx.db
        .selectFrom('round_partials')
        .selectAll()
        .where('round_id', '=', roundId)
        .orderBy('created_at')
        .orderBy('process_id')
        .execute();
      return rows.map(toPartial);
    },
    async deleteRoundPartials(roundId) {
      const rows = await ctx.db.deleteFrom('round_partials').where('round_id', '=', roundId).returningAll().execute();
      return rows.map(toPartial);
    },
    async pruneRoundPartials() {
      const rows = await ctx.db
        .deleteFrom('round_partials')
        .where('round_id', 'in', (eb) =>
          eb.selectFrom('rounds').select('id').where('status', 'in', ['closed', 'failed']),
        )
        .returningAll()
        .execute();
      return rows.map(toPartial);
    },
  };
}
