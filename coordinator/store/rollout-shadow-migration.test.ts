/**
 * Migration 0005 on SQLite: a rollout stored before it, with its shadow
 * setting inside `metrics`, comes back with the setting in its own field and
 * `metrics` holding metric rules only; a rollout without a shadow has null.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openSqliteStore, SQLITE_FILE } from './sqlite-store.ts';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-migration-0005-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

it('moves metrics.shadow of rollouts stored before it into rollouts.shadow, once', async () => {
  const file = join(dataDir, SQLITE_FILE);
  await (await openSqliteStore({ dataDir })).close();

  // Back to the schema before 0005, with two rollouts as the old code stored them.
  const raw = new BetterSqlite3(file);
  raw.pragma('foreign_keys = OFF'); // the rows name model versions this test does not push
  raw.exec('alter table rollouts drop column shadow');
  expect(raw.prepare("delete from kysely_migration where name = '0005_rollout_shadow'").run().changes).toBe(1);
  // Migrations after 0005 go too: Kysely refuses a history with a gap.
  raw.exec('drop table secagg_round_stats');
  expect(raw.prepare("delete from kysely_migration where name > '0005_rollout_shadow'").run().changes).toBe(1);
  const insert =
    raw.prepare(`insert into rollouts (id, app, candidate_version, control_version, status, stages, stage_index, stage_started_at, min_stage_seconds, min_samples, metrics, created_at, updated_at)
    values (?, 'digits', 2, 1, 'running', '[5,100]', 0, '2026-01-01T00:00:00.000Z', 60, 10, ?, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`);
  insert.run('ro_with', JSON.stringify({ accuracy: { minDelta: -0.01 }, shadow: { version: 3, sampleRate: 0.2 } }));
  insert.run('ro_without', JSON.stringify({ accuracy: { minDelta: -0.01 } }));
  raw.close();

  for (let open = 0; open < 2; open++) {
    const store = await openSqliteStore({ dataDir });
    const moved = await store.getRollout('ro_with');
    expect(moved?.shadow).toEqual({ version: 3, sampleRate: 0.2 });
    expect(moved?.metrics).toEqual({ accuracy: { minDelta: -0.01 } });
    const plain = await store.getRollout('ro_without');
    expect(plain?.shadow).toBeNull();
    expect(plain?.metrics).toEqual({ accuracy: { minDelta: -0.01 } });
    await store.close();
  }
});
