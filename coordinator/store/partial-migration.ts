/**
 * Migration 0003: what several coordinator processes need to close a round
 * from their partial sums. `coordinator_processes` holds one heartbeat row per
 * live process (a closer waits only for live ones); `round_partials` holds the
 * partial sum each process flushed for a closing round, with the exact device
 * set it covers. Portable DDL only, so both dialects run it unchanged.
 */
import type { Kysely, Migration } from 'kysely';

export function partialsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('coordinator_processes')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('heartbeat_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('round_partials')
        .ifNotExists()
        .addColumn('round_id', 'text', (c) => c.notNull().references('rounds.id'))
        .addColumn('process_id', 'text', (c) => c.notNull())
        .addColumn('device_ids', 'text', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('total_weight', 'double precision', (c) => c.notNull())
        .addColumn('bounded_count', 'integer', (c) => c.notNull())
        .addColumn('max_update_norm', 'double precision', (c) => c.notNull())
        .addColumn('norm_bound', 'double precision')
        .addColumn('sum_hash', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('round_partials_pk', ['round_id', 'process_id'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('round_partials').ifExists().execute();
      await db.schema.dropTable('coordinator_processes').ifExists().execute();
    },
  };
}
