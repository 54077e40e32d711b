/**
 * Prepared statements cached by SQL text, for the SQLite store's connection.
 */
import type BetterSqlite3 from 'better-sqlite3';

/** How many prepared statements stay cached; Flock's queries are a few dozen shapes (IN lists add a few). */
export const STATEMENT_CACHE_SIZE = 256;

/**
 * The connection Kysely sees, with prepared statements cached by SQL text.
 * Kysely's SQLite driver calls `prepare` for every query, and SQLite's
 * parse/plan then costs more than running the small indexed queries Flock
 * makes (measured in `store-statements.bench.ts`). Least recently used
 * statements are finalized by GC once evicted; a statement still iterating
 * (streaming, which Flock does not use) is never handed out twice.
 */
export function cachingDatabase(sqlite: BetterSqlite3.Database, size = STATEMENT_CACHE_SIZE) {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => void sqlite.close(),
    prepare(sql: string): BetterSqlite3.Statement {
      const hit = cache.get(sql);
      if (hit && !hit.busy) {
        cache.delete(sql); // re-insert: most recently used last
        cache.set(sql, hit);
        return hit;
      }
      const stmt = sqlite.prepare(sql);
      if (hit) return stmt; // the cached one is mid-iteration: use a fresh one, keep the cached one
      cache.set(sql, stmt);
      if (cache.size > size) cache.delete(cache.keys().next().value!);
      return stmt;
    },
  };
}
