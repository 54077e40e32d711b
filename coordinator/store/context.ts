/**
 * What every group of store operations needs: an executor (the database or
 * the current transaction), a way to run several statements atomically, a
 * clock and an id source. Also the per-scope counters that allocate version
 * numbers, manifest generations and round numbers without gaps or races.
 */
import type { Kysely } from 'kysely';
import { StoreError } from './errors.ts';
import type { Database } from './schema.ts';
import type { IsoTime } from './types.ts';

export interface OpsContext {
  /** The executor to use now: the database, or the enclosing transaction. */
  readonly db: Kysely<Database>;
  /** Runs `fn` in a transaction, or inside the enclosing one when there is one. */
  atomic<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  now(): IsoTime;
  newId(): string;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/**
 * The page size to query. A limit above MAX_LIMIT is refused, never lowered:
 * a caller that asked for 100,000 rows and silently got 1,000 would count
 * only the oldest page (bandit rewards once stopped counting that way).
 * Read more with `afterId` / `offset`.
 */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1)
    throw new StoreError('invalid', `limit must be a positive integer, got ${limit}.`);
  if (limit > MAX_LIMIT)
    throw new StoreError(
      'invalid',
      `limit must be at most ${MAX_LIMIT}, got ${limit}; read further pages with afterId or offset.`,
    );
  return limit;
}

export function pageOffset(offset: number | undefined): number {
  if (offset === undefined) return 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw new StoreError('invalid', `offset must be a non-negative integer, got ${offset}.`);
  return offset;
}

/**
 * Increments and returns the counter (scope, key), starting at 1. Call inside
 * a transaction: the UPDATE locks the counter row (PostgreSQL) or the whole
 * database (SQLite) until commit, so concurrent callers get distinct values.
 */
export async function nextCounter(db: Kysely<Database>, scope: string, key: string): Promise<number> {
  await db
    .insertInto('counters')
    .values({ scope, key, value: 0 })
    .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
    .execute();
  const row = await db
    .updateTable('counters')
    .set((eb) => ({ value: eb('value', '+', 1) }))
    .where('scope', '=', scope)
    .where('key', '=', key)
    .returning('value')
    .executeTakeFirstOrThrow();
  return Number(row.value);
}

/** Normalizes an ISO-8601 time to `toISOString()` form, or throws StoreError('invalid'). */
export function isoTime(value: string, name: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new StoreError(
      'invalid',
      `${name} must be an ISO-8601 time such as 2025-01-31T12:00:00Z, got ${JSON.stringify(value)}.`,
    );
  return new Date(ms).toISOString();
}

/** True for a unique / primary-key violation on SQLite or PostgreSQL. */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

/** True for a foreign-key violation on SQLite or PostgreSQL. */
export function isForeignKeyViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503';
}

/** Rows changed by an UPDATE/DELETE result, across drivers. */
export function affected(result: { numUpdatedRows?: bigint; numDeletedRows?: bigint } | undefined): number {
  return Number(result?.numUpdatedRows ?? result?.numDeletedRows ?? 0n);
}
