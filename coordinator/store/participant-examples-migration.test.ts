/**
 * Migration 0004 on SQLite, which runs migrations outside a transaction: a
 * process that died after adding the column but before Kysely recorded the
 * migration must open the store again, not fail on "duplicate column".
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openSqliteStore, SQLITE_FILE } from './sqlite-store.ts';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-migration-0004-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const columns = (file: string) => {
  const raw = new BetterSqlite3(file, { readonly: true });
  const names = (raw.prepare('pragma table_info(round_participants)').all() as { name: string }[]).map((c) => c.name);
  raw.close();
  return names;
};

it('adds declared_examples once, and runs again when its record was lost', async () => {
  const file = join(dataDir, SQLITE_FILE);
  await (await openSqliteStore({ dataDir })).close();
  expect(columns(file)).toContain('declared_examples');

  const raw = new BetterSqlite3(file);
  // Later migrations' records go too: Kysely refuses a lost record before a kept one.
  expect(raw.prepare("delete from kysely_migration where name >= '0004'").run().changes).toBeGreaterThanOrEqual(1);
  raw.close();

  const store = await openSqliteStore({ dataDir });
  await store.close();
  expect(columns(file).filter((c) => c === 'declared_examples')).toHaveLength(1);
  const again = new BetterSqlite3(file, { readonly: true });
  expect(
    again.prepare("select count(*) n from kysely_migration where name = '0004_participant_examples'").get(),
  ).toEqual({ n: 1 });
  again.close();
});
