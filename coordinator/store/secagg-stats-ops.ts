/**
 * The stored figures of secure-aggregation rounds (migration 0006): written
 * by the round as each phase closes, read by the round views. One row per
 * round, replaced whole on each write.
 */
import { type SecAggRoundStats, SecAggRoundStatsSchema } from '../../shared/protocol/index.ts';
import type { OpsContext } from './context.ts';
import { StoreError } from './errors.ts';
import { fromJson, toJson } from './rows.ts';
import type { StoreOps } from './store.ts';

type SecAggStatsOps = Pick<StoreOps, 'putSecAggRoundStats' | 'getSecAggRoundStats' | 'listSecAggRoundStats'>;

function parse(roundId: string, text: string): SecAggRoundStats {
  const parsed = SecAggRoundStatsSchema.safeParse(fromJson(text, 'secagg_round_stats.stats'));
  if (!parsed.success)
    throw new StoreError('io', `The secure-aggregation stats of round ${roundId} do not parse.`, {
      roundId,
    });
  return parsed.data;
}

export function secAggStatsOps(ctx: OpsContext): SecAggStatsOps {
  return {
    async putSecAggRoundStats(roundId, stats) {
      const parsed = SecAggRoundStatsSchema.safeParse(stats);
      if (!parsed.success)
        throw new StoreError('invalid', `Secure-aggregation stats of round ${roundId}: ${parsed.error.message}`);
      const row = { round_id: roundId, stats: toJson(parsed.data), updated_at: ctx.now() };
      await ctx.db
        .insertInto('secagg_round_stats')
        .values(row)
        .onConflict((oc) => oc.column('round_id').doUpdateSet({ stats: row.stats, updated_at: row.updated_at }))
        .execute();
    },
    async getSecAggRoundStats(roundId) {
      const row = await ctx.db
        .selectFrom('secagg_round_stats')
        .select('stats')
        .where('round_id', '=', roundId)
        .executeTakeFirst();
      return row ? parse(roundId, row.stats) : null;
    },
    async listSecAggRoundStats(roundIds) {
      const out = new Map<string, SecAggRoundStats>();
      if (roundIds.length === 0) return out;
      const rows = await ctx.db
        .selectFrom('secagg_round_stats')
        .select(['round_id', 'stats'])
        .where('round_id', 'in', [...roundIds])
        .execute();
      for (const r of rows) out.set(r.round_id, parse(r.round_id, r.stats));
      return out;
    },
  };
}
