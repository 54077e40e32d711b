/**
 * Migration 0006: the per-round figures of a secure-aggregation round
 * (`secagg_round_stats`: devices per phase, why it aborted, the epsilon the
 * DDG accountant charged), one JSON row per round. Counts only: the phase
 * messages themselves live in the process's memory and die with the round.
 * Portable DDL, so both dialects run it unchanged.
 */
import type { Kysely, Migration } from 'kysely';

export function secAggStatsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('secagg_round_stats')
        .ifNotExists()
        .addColumn('round_id', 'text', (c) => c.primaryKey().references('rounds.id'))
        .addColumn('stats', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('secagg_round_stats').ifExists().execute();
    },
  };
}
