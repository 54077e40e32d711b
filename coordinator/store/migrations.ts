/**
 * Schema migrations, written once with Kysely's schema builder for SQLite and
 * PostgreSQL alike. The only dialect difference is how an auto-numbered id is
 * declared (SQLite AUTOINCREMENT vs a PostgreSQL identity column), so the
 * provider takes the dialect. Every statement is `if not exists`, which makes a
 * migration that died half-way safe to run again (SQLite runs Kysely
 * migrations outside a transaction).
 */
import { Migrator, sql } from 'kysely';
import type { ColumnDefinitionBuilder, CreateTableBuilder, Kysely, Migration, MigrationProvider } from 'kysely';
import { StoreError } from './errors.ts';
import { partialsMigration } from './partial-migration.ts';
import { participantExamplesMigration } from './participant-examples-migration.ts';
import { rolloutShadowMigration } from './rollout-shadow-migration.ts';
import { rolloutsMigration } from './rollout-migration.ts';
import { secAggStatsMigration } from './secagg-stats-migration.ts';

export type SqlDialectName = 'sqlite' | 'postgres';

const TEXT = 'text';
const INT = 'integer';
const REAL = 'double precision';

const notNull = (c: ColumnDefinitionBuilder) => c.notNull();

function inList(column: string, values: readonly string[]) {
  return sql`${sql.ref(column)} in (${sql.join(values.map((v) => sql.lit(v)))})`;
}

function withId<T extends string>(dialect: SqlDialectName, table: CreateTableBuilder<T, never>, name: string) {
  return table.addColumn(name, INT, (c) =>
    dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedByDefaultAsIdentity(),
  );
}

function initial(dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const s = db.schema;
      await s
        .createTable('settings')
        .ifNotExists()
        .addColumn('key', TEXT, (c) => c.primaryKey())
        .addColumn('value', TEXT, notNull)
        .addColumn('updated_at', TEXT, notNull)
        .execute();

      await s
        .createTable('counters')
        .ifNotExists()
        .addColumn('scope', TEXT, notNull)
        .addColumn('key', TEXT, notNull)
        .addColumn('value', INT, notNull)
        .addPrimaryKeyConstraint('counters_pk', ['scope', 'key'])
        .execute();

      await s
        .createTable('admin_keys')
        .ifNotExists()
        .addColumn('id', TEXT, (c) => c.primaryKey())
        .addColumn('key_hash', TEXT, (c) => c.notNull().unique())
        .addColumn('label', TEXT, notNull)
        .addColumn('created_at', TEXT, notNull)
        .addColumn('revoked_at', TEXT)
        .execute();

      await s
        .createTable('devices')
        .ifNotExists()
        .addColumn('device_id', TEXT, (c) => c.primaryKey())
        .addColumn('app', TEXT, notNull)
        .addColumn('token_hash', TEXT, notNull)
        .addColumn('platform', TEXT, notNull)
        .addColumn('capabilities', TEXT, notNull)
        .addColumn('created_at', TEXT, notNull)
        .addColumn('last_seen_at', TEXT, notNull)
        .execute();
      await s.createIndex('devices_app_idx').ifNotExists().on('devices').columns(['app', 'created_at']).execute();

      await s
        .createTable('model_versions')
        .ifNotExists()
        .addColumn('app', TEXT, notNull)
        .addColumn('version', INT, notNull)
        .addColumn('parent_version', INT)
        .addColumn('created_at', TEXT, notNull)
        .addColumn('source', TEXT, (c) => c.notNull().check(inList('source', ['push', 'round'])))
        .addColumn('round_id', TEXT)
        .addColumn('clients', INT)
        .addColumn('clip_norm', REAL)
        .addColumn('noise_multiplier', REAL)
        .addColumn('epsilon', REAL)
        .addColumn('metrics', TEXT, notNull)
        .addColumn('topology', TEXT, notNull)
        .addColumn('weight_specs', TEXT, notNull)
        .addColumn('input_spec', TEXT)
        .addColumn('labels', TEXT)
        .addColumn('variants', TEXT, notNull)
        .addPrimaryKeyConstraint('model_versions_pk', ['app', 'version'])
        .execute();

      const stages = ['candidate', 'canary', 'production', 'archived'];
      await s
        .createTable('model_stages')
        .ifNotExists()
        .addColumn('app', TEXT, notNull)
        .addColumn('version', INT, notNull)
        .addColumn('stage', TEXT, (c) => c.notNull().check(inList('stage', stages)))
        .addColumn('updated_at', TEXT, notNull)
        .addPrimaryKeyConstraint('model_stages_pk', ['app', 'version'])
        .addForeignKeyConstraint('model_stages_version_fk', ['app', 'version'], 'model_versions', ['app', 'version'])
        .execute();
      await s
        .createIndex('model_stages_stage_idx')
        .ifNotExists()
        .on('model_stages')
        .columns(['app', 'stage'])
        .execute();

      await withId(dialect, s.createTable('stage_history').ifNotExists(), 'id')
        .addColumn('app', TEXT, notNull)
        .addColumn('version', INT, notNull)
        .addColumn('from_stage', TEXT)
        .addColumn('to_stage', TEXT, notNull)
        .addColumn('actor', TEXT, notNull)
        .addColumn('reason', TEXT)
        .addColumn('at', TEXT, notNull)
        .addForeignKeyConstraint('stage_history_version_fk', ['app', 'version'], 'model_versions', ['app', 'version'])
        .execute();
      await s
        .createIndex('stage_history_version_idx')
        .ifNotExists()
        .on('stage_history')
        .columns(['app', 'version'])
        .execute();

      await s
        .createTable('manifests')
        .ifNotExists()
        .addColumn('app', TEXT, notNull)
        .addColumn('generation', INT, notNull)
        .addColumn('version', INT, notNull)
        .addColumn('signed_manifest', TEXT, notNull)
        .addColumn('created_at', TEXT, notNull)
        .addPrimaryKeyConstraint('manifests_pk', ['app', 'generation'])
        .addForeignKeyConstraint('manifests_version_fk', ['app', 'version'], 'model_versions', ['app', 'version'])
        .execute();

      await s
        .createTable('tasks')
        .ifNotExists()
        .addColumn('id', TEXT, (c) => c.primaryKey())
        .addColumn('app', TEXT, notNull)
        .addColumn('name', TEXT, notNull)
        .addColumn('model_version', INT, notNull)
        .addColumn('current_version', INT, notNull)
        .addColumn('plan', TEXT, notNull)
        .addColumn('status', TEXT, (c) =>
          c.notNull().check(inList('status', ['active', 'paused', 'budget_exhausted', 'done'])),
        )
        .addColumn('budget_epsilon', REAL, notNull)
        .addColumn('budget_delta', REAL, notNull)
        .addColumn('accountant', TEXT, notNull)
        .addColumn('epsilon_spent', REAL, notNull)
        .addColumn('optimizer_state_hash', TEXT)
        .addColumn('clip_norm', REAL)
        .addColumn('created_at', TEXT, notNull)
        .addColumn('updated_at', TEXT, notNull)
        .addForeignKeyConstraint('tasks_version_fk', ['app', 'model_version'], 'model_versions', ['app', 'version'])
        .execute();
      await s.createIndex('tasks_app_idx').ifNotExists().on('tasks').columns(['app', 'status']).execute();

      await s
        .createTable('rounds')
        .ifNotExists()
        .addColumn('id', TEXT, (c) => c.primaryKey())
        .addColumn('task_id', TEXT, (c) => c.notNull().references('tasks.id'))
        .addColumn('number', INT, notNull)
        .addColumn('status', TEXT, (c) => c.notNull().check(inList('status', ['open', 'closing', 'closed', 'failed'])))
        .addColumn('global_version', INT, notNull)
        .addColumn('goal', INT, notNull)
        .addColumn('selection_limit', INT, notNull)
        .addColumn('selected_count', INT, (c) => c.notNull().defaultTo(0))
        .addColumn('reported_count', INT, (c) => c.notNull().defaultTo(0))
        .addColumn('started_at', TEXT, notNull)
        .addColumn('deadline_at', TEXT, notNull)
        .addColumn('closed_at', TEXT)
        .addColumn('result_version', INT)
        .addColumn('failure_reason', TEXT)
        .addColumn('metrics', TEXT, notNull)
        .addUniqueConstraint('rounds_task_number_uq', ['task_id', 'number'])
        .execute();
      await s
        .createIndex('rounds_status_deadline_idx')
        .ifNotExists()
        .on('rounds')
        .columns(['status', 'deadline_at'])
        .execute();

      await s
        .createTable('round_participants')
        .ifNotExists()
        .addColumn('round_id', TEXT, (c) => c.notNull().references('rounds.id'))
        .addColumn('device_id', TEXT, (c) => c.notNull().references('devices.device_id'))
        .addColumn('status', TEXT, (c) => c.notNull().check(inList('status', ['selected', 'reported', 'dropped'])))
        .addColumn('selected_at', TEXT, notNull)
        .addColumn('reported_at', TEXT)
        .addPrimaryKeyConstraint('round_participants_pk', ['round_id', 'device_id'])
        .execute();

      await withId(dialect, s.createTable('updates').ifNotExists(), 'seq')
        .addColumn('round_id', TEXT, notNull)
        .addColumn('device_id', TEXT, notNull)
        .addColumn('blob_hash', TEXT, notNull)
        .addColumn('byte_length', INT, notNull)
        .addColumn('num_examples', INT, notNull)
        .addColumn('pre_clip_norm', REAL)
        .addColumn('meta', TEXT, notNull)
        .addColumn('received_at', TEXT, notNull)
        .addUniqueConstraint('updates_round_device_uq', ['round_id', 'device_id'])
        .addForeignKeyConstraint('updates_participant_fk', ['round_id', 'device_id'], 'round_participants', [
          'round_id',
          'device_id',
        ])
        .execute();

      await withId(dialect, s.createTable('audit_log').ifNotExists(), 'id')
        .addColumn('at', TEXT, notNull)
        .addColumn('actor', TEXT, notNull)
        .addColumn('action', TEXT, notNull)
        .addColumn('target', TEXT)
        .addColumn('details', TEXT, notNull)
        .execute();
      await s.createIndex('audit_log_actor_idx').ifNotExists().on('audit_log').columns(['actor', 'id']).execute();
      await s.createIndex('audit_log_action_idx').ifNotExists().on('audit_log').columns(['action', 'id']).execute();

      await withId(dialect, s.createTable('telemetry').ifNotExists(), 'id')
        .addColumn('device_id', TEXT, notNull)
        .addColumn('app', TEXT, notNull)
        .addColumn('version', INT)
        .addColumn('kind', TEXT, notNull)
        .addColumn('payload', TEXT, notNull)
        .addColumn('at', TEXT, notNull)
        .execute();
      await s
        .createIndex('telemetry_query_idx')
        .ifNotExists()
        .on('telemetry')
        .columns(['app', 'version', 'kind', 'at'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const t of [
        'telemetry',
        'audit_log',
        'updates',
        'round_participants',
        'rounds',
        'tasks',
        'manifests',
        'stage_history',
        'model_stages',
        'model_versions',
        'devices',
        'admin_keys',
        'counters',
        'settings',
      ]) {
        await db.schema.dropTable(t).ifExists().execute();
      }
    },
  };
}

/**
 * The ordered migrations, in code (no files to ship or find at run time).
 *
 * @example
 * ```ts
 * new Migrator({ db, provider: flockMigrations('sqlite') });
 * ```
 */
export function flockMigrations(dialect: SqlDialectName): MigrationProvider {
  return {
    async getMigrations() {
      return {
        '0001_initial': initial(dialect),
        '0002_rollouts': rolloutsMigration(),
        '0003_round_partials': partialsMigration(),
        '0004_participant_examples': participantExamplesMigration(dialect),
        '0005_rollout_shadow': rolloutShadowMigration(dialect),
        '0006_secagg_round_stats': secAggStatsMigration(),
      };
    },
  };
}

/** Brings the schema up to date; a no-op when it already is. Returns the names of migrations applied now. */
export async function migrateToLatest<DB>(db: Kysely<DB>, dialect: SqlDialectName): Promise<string[]> {
  const migrator = new Migrator({ db, provider: flockMigrations(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    throw new StoreError(
      'io',
      `Schema migration failed: ${(error as Error).message ?? String(error)}`,
      {
        results: (results ?? []).map((r) => `${r.migrationName}:${r.status}`),
      },
      { cause: error },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
