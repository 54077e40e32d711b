import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { cachingDatabase } from './statement-cache.ts';

describe('cachingDatabase (prepared statements cached by SQL text)', () => {
  let sqlite: BetterSqlite3.Database | undefined;
  afterEach(() => sqlite?.close());

  it('hands back the same statement for the same SQL and evicts the least recently used past its size', () => {
    sqlite = new BetterSqlite3(':memory:');
    const db = cachingDatabase(sqlite, 2);
    const a = db.prepare('select 1');
    expect(db.prepare('select 1')).toBe(a);
    const b = db.prepare('select 2');
    expect(db.prepare('select 1')).toBe(a); // a is now the most recently used
    db.prepare('select 3'); // evicts b, not a
    expect(db.prepare('select 1')).toBe(a);
    expect(db.prepare('select 2')).not.toBe(b);
  });

  it('never hands out a statement that is still iterating, and its results stay right', () => {
    sqlite = new BetterSqlite3(':memory:');
    sqlite.exec('create table t (n integer); insert into t values (1), (2), (3);');
    const db = cachingDatabase(sqlite);
    const sql = 'select n from t order by n';
    const outer = db.prepare(sql);
    const seen: Array<[number, number[]]> = [];
    for (const row of outer.iterate() as Iterable<{ n: number }>) {
      const inner = db.prepare(sql);
      expect(inner).not.toBe(outer);
      seen.push([row.n, (inner.all() as Array<{ n: number }>).map((r) => r.n)]);
    }
    expect(seen).toEqual([
      [1, [1, 2, 3]],
      [2, [1, 2, 3]],
      [3, [1, 2, 3]],
    ]);
    expect(db.prepare(sql)).toBe(outer); // done iterating: cached again
  });
});
