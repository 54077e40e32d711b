/**
 * Migration 0004: the examples a device declared at check-in, kept with its
 * selection (`round_participants.declared_examples`, already capped by the
 * plan's maxExamplesPerDevice), so an upload is never weighted above what the
 * device said it held. Null for selections made before this migration: their
 * uploads are capped by the plan alone.
 *
 * `alter table add column` has no `if not exists` in SQLite, and SQLite runs
 * migrations outside a transaction: there the column is looked up first, so a
 * migration that died after the DDL but before Kysely recorded it runs again.
 * PostgreSQL runs it in a transaction (all or nothing) and needs no look-up.
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from './migrations.ts';

export function participantExamplesMigration(dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const tables = dialect === 'sqlite' ? await db.introspection.getTables() : [];
      const participants = tables.find((t) => t.name === 'round_participants');
      if (participants?.columns.some((c) => c.name === 'declared_examples')) return;
      await db.schema.alterTable('round_participants').addColumn('declared_examples', 'integer').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('round_participants').dropColumn('declared_examples').execute();
    },
  };
}
