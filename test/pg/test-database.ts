/**
 * Reaching the throwaway PostgreSQL cluster of `.ci/postgres.sh` from tests.
 * Tests that need PostgreSQL read FLOCK_TEST_DATABASE_URL and are skipped,
 * with `NO_POSTGRES` as the printed reason, when it is unset. Each test gets a
 * database of its own (`createTestDatabase`), so tests never see each other's
 * rows and a failed run leaves nothing behind that the next run trips on.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The cluster's URL, or undefined when no cluster was started. */
export const TEST_DATABASE_URL: string | undefined = process.env.FLOCK_TEST_DATABASE_URL || undefined;

/** Why PostgreSQL tests skip; printed once per file that skips. */
export const NO_POSTGRES =
  'FLOCK_TEST_DATABASE_URL is unset: PostgreSQL tests skipped (run them with eval "$(bash .ci/postgres.sh start)", or through .ci/run)';

/**
 * True when PostgreSQL tests must skip; also prints the reason, so a skip is never silent.
 *
 * @example
 * ```ts
 * describe.skipIf(skipWithoutPostgres('store contract'))('postgres store', () => { ... });
 * ```
 */
export function skipWithoutPostgres(what: string): boolean {
  if (TEST_DATABASE_URL) return false;
  console.warn(`[skipped] ${what}: ${NO_POSTGRES}`);
  return true;
}

export interface TestDatabase {
  /** Connection string of the fresh, empty database. */
  url: string;
  name: string;
  /** Drops the database, closing whatever connections still use it. */
  drop(): Promise<void>;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  if (!TEST_DATABASE_URL) throw new Error(NO_POSTGRES);
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database on the test cluster, or a copy of `template`
 * (a database nobody is connected to).
 *
 * @example
 * ```ts
 * const db = await createTestDatabase('contract');
 * const store = await openPostgresStore({ connectionString: db.url });
 * await store.close(); await db.drop();
 * ```
 */
export async function createTestDatabase(prefix = 'flock', options: { template?: string } = {}): Promise<TestDatabase> {
  const name = `${prefix.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(6).toString('hex')}`;
  // Copying a migrated template is several times faster than migrating each test's database.
  const template = options.template ? ` template "${options.template}"` : '';
  await withAdmin((c) => c.query(`create database "${name}"${template}`));
  const url = new URL(TEST_DATABASE_URL!);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => withAdmin(async (c) => void (await c.query(`drop database if exists "${name}" with (force)`))),
  };
}
