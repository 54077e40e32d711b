/**
 * Migration 0005: a rollout's shadow setting gets its own column
 * (`rollouts.shadow`, JSON text or null) instead of riding inside `metrics`,
 * which holds metric rules only. Rows written before it carried the setting
 * as `metrics.shadow`; they are moved here, so readers look in one place.
 *
 * As in 0004, SQLite runs migrations outside a transaction, so the column is
 * looked up first there (a migration that died after the DDL runs again);
 * moving the rows twice is harmless.
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialectName } from './migrations.ts';

export function rolloutShadowMigration(dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const tables = dialect === 'sqlite' ? await db.introspection.getTables() : [];
      const rollouts = tables.find((t) => t.name === 'rollouts');
      if (!rollouts?.columns.some((c) => c.name === 'shadow'))
        await db.schema.alterTable('rollouts').addColumn('shadow', 'text').execute();
      const rows = (
        await sql<{
          id: string;
          metrics: string;
        }>`select id, metrics from rollouts where metrics like ${'%"shadow"%'}`.execute(db)
      ).rows;
      for (const row of rows) {
        const metrics = JSON.parse(row.metrics) as Record<string, unknown>;
        if (metrics.shadow === undefined) continue;
        const { shadow, ...rules } = metrics;
        await sql`update rollouts set shadow = ${JSON.stringify(shadow)}, metrics = ${JSON.stringify(rules)} where id = ${row.id}`.execute(
          db,
        );
      }
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('rollouts').dropColumn('shadow').execute();
    },
  };
}
