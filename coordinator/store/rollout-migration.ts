/**
 * Migration 0002: the rollouts table. Portable DDL only (text, integer,
 * a CHECK on status), so the PostgreSQL store runs it unchanged.
 */
import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import { ROLLOUT_STATUSES } from './rollout-types.ts';

export function rolloutsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const statuses = sql`${sql.ref('status')} in (${sql.join(ROLLOUT_STATUSES.map((s) => sql.lit(s)))})`;
      await db.schema
        .createTable('rollouts')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('app', 'text', (c) => c.notNull())
        .addColumn('candidate_version', 'integer', (c) => c.notNull())
        .addColumn('control_version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(statuses))
        .addColumn('stages', 'text', (c) => c.notNull())
        .addColumn('stage_index', 'integer', (c) => c.notNull())
        .addColumn('stage_started_at', 'text', (c) => c.notNull())
        .addColumn('min_stage_seconds', 'double precision', (c) => c.notNull())
        .addColumn('min_samples', 'integer', (c) => c.notNull())
        .addColumn('metrics', 'text', (c) => c.notNull())
        .addColumn('canary_generation', 'integer')
        .addColumn('control_generation', 'integer')
        .addColumn('last_verdict', 'text')
        .addColumn('reason', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text')
        .addForeignKeyConstraint('rollouts_candidate_fk', ['app', 'candidate_version'], 'model_versions', [
          'app',
          'version',
        ])
        .execute();
      await db.schema
        .createIndex('rollouts_app_status_idx')
        .ifNotExists()
        .on('rollouts')
        .columns(['app', 'status'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('rollouts').ifExists().execute();
    },
  };
}
