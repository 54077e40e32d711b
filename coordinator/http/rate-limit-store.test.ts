/**
 * Rate-limit stores: the in-memory one (limits, window reset, isolation of
 * keys and of rates), and the PostgreSQL one as several processes see it:
 * two stores on one database share a key's count exactly, stores opening
 * together all create the table safely, refused keys stop costing queries,
 * expired rows are swept, and an unreachable database falls back to
 * per-process counting with one warning. PostgreSQL parts skip, with the
 * reason printed, when FLOCK_TEST_DATABASE_URL is unset.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../../test/pg/test-database.ts';
import {
  memoryRateLimitStore,
  openPostgresRateLimitStore,
  type RateLimit,
  type RateLimitDecision,
  type RateLimitLog,
  type RateLimitStore,
} from './rate-limit-store.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const consumeN = async (
  store: RateLimitStore,
  key: string,
  rate: RateLimit,
  n: number,
): Promise<RateLimitDecision[]> => {
  const out: RateLimitDecision[] = [];
  for (let i = 0; i < n; i++) out.push(await store.consume(key, rate));
  return out;
};
const allowedCount = (ds: RateLimitDecision[]) => ds.filter((d) => d.allowed).length;

describe('memoryRateLimitStore', () => {
  it('allows `limit` requests per window, then refuses with the time left', async () => {
    const store = memoryRateLimitStore();
    const rate = { limit: 4, windowMs: 60_000 };
    const ds = await consumeN(store, 'ip:a', rate, 6);
    expect(ds.map((d) => d.allowed)).toEqual([true, true, true, true, false, false]);
    expect(ds.slice(0, 4).map((d) => d.remaining)).toEqual([3, 2, 1, 0]);
    expect(ds[5].remaining).toBe(0);
    expect(ds[5].resetMs).toBeGreaterThan(55_000);
    expect(ds[5].resetMs).toBeLessThanOrEqual(60_000);
  });

  it('starts a fresh window once the old one ends', async () => {
    const store = memoryRateLimitStore();
    const rate = { limit: 2, windowMs: 120 };
    expect((await consumeN(store, 'k', rate, 3)).map((d) => d.allowed)).toEqual([true, true, false]);
    await sleep(160);
    expect((await consumeN(store, 'k', rate, 3)).map((d) => d.allowed)).toEqual([true, true, false]);
  });

  it('keeps keys apart, and keeps different rates on one key apart', async () => {
    const store = memoryRateLimitStore();
    const rate = { limit: 2, windowMs: 60_000 };
    await consumeN(store, 'dev:1', rate, 3);
    expect((await store.consume('dev:2', rate)).allowed).toBe(true);
    // Same key, another rate: its own budget, untouched by the first.
    const other = await consumeN(store, 'dev:1', { limit: 3, windowMs: 60_000 }, 4);
    expect(other.map((d) => d.allowed)).toEqual([true, true, true, false]);
  });

  it('rejects a rate it cannot enforce', async () => {
    const store = memoryRateLimitStore();
    await expect(store.consume('k', { limit: 0, windowMs: 1000 })).rejects.toThrow(/positive integer limit/);
    await expect(store.consume('k', { limit: 1, windowMs: 0 })).rejects.toThrow(/positive windowMs/);
  });
});

/** A logger that keeps what it was told, to count warnings. */
function recordingLog() {
  const lines: { level: 'warn' | 'info'; msg: string }[] = [];
  const at = (level: 'warn' | 'info') => (_fields: object, msg: string) => void lines.push({ level, msg });
  const log: RateLimitLog = { warn: at('warn'), info: at('info') };
  return { lines, log };
}

describe('openPostgresRateLimitStore, database unreachable', () => {
  it('still answers, limits per process from memory, and warns once', async () => {
    const { lines, log } = recordingLog();
    // Port 1 on loopback: nothing listens, so every connection is refused.
    const store = await openPostgresRateLimitStore({
      connectionString: 'postgres://flock@127.0.0.1:1/flock',
      log,
      retryMs: 60_000,
    });
    try {
      const ds = await consumeN(store, 'ip:z', { limit: 3, windowMs: 60_000 }, 5);
      expect(ds.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
      expect(ds[4].resetMs).toBeGreaterThan(50_000);
      expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
      expect(lines[0].msg).toMatch(/counting in this process only/);
    } finally {
      await store.close();
    }
  });
});

const skip = skipWithoutPostgres('PostgreSQL rate-limit store tests');

describe.skipIf(skip)('openPostgresRateLimitStore', () => {
  let db: TestDatabase | undefined;
  const stores: RateLimitStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await db?.drop();
    db = undefined;
  });
  const open = async (options: { retryMs?: number } = {}) => {
    const s = await openPostgresRateLimitStore({ connectionString: db!.url, ...options });
    stores.push(s);
    return s;
  };
  const query = async <R extends pg.QueryResultRow>(sql: string): Promise<R[]> => {
    const client = new pg.Client({ connectionString: db!.url });
    await client.connect();
    try {
      return (await client.query<R>(sql)).rows;
    } finally {
      await client.end();
    }
  };

  it('creates its table once when four processes open an empty database together', async () => {
    db = await createTestDatabase('rl_open');
    const opened = await Promise.all([1, 2, 3, 4].map(() => open({ retryMs: 60_000 })));
    // Had any creation failed, that store would count in memory: 2 + 2 + 2 + 2 would all be allowed.
    const ds = await Promise.all(opened.map((s) => consumeN(s, 'k', { limit: 5, windowMs: 60_000 }, 2)));
    expect(allowedCount(ds.flat())).toBe(5);
    const tables = await query<{ n: string }>(
      "select count(*) as n from pg_class where relname = 'flock_rate_limits' and relkind = 'r'",
    );
    expect(Number(tables[0].n)).toBe(1);
  });

  it('shares one key count exactly between two processes racing', async () => {
    db = await createTestDatabase('rl_share');
    const [a, b] = await Promise.all([open(), open()]);
    const rate = { limit: 10, windowMs: 60_000 };
    const ds = await Promise.all([...Array(6)].flatMap(() => [a.consume('ip:1', rate), b.consume('ip:1', rate)]));
    expect(allowedCount(ds)).toBe(10);
    // Each allowed request saw a distinct count: none was lost or doubled.
    expect(
      ds
        .filter((d) => d.allowed)
        .map((d) => d.remaining)
        .sort((x, y) => x - y),
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const refused = ds.filter((d) => !d.allowed);
    expect(refused.every((d) => d.resetMs > 50_000 && d.resetMs <= 60_000)).toBe(true);
    // Another key, and the same key under another rate, are untouched.
    expect((await a.consume('ip:2', rate)).remaining).toBe(9);
    expect((await b.consume('ip:1', { limit: 20, windowMs: 60_000 })).remaining).toBe(19);
  });

  it('refuses a key over its limit from memory, without charging the table further', async () => {
    db = await createTestDatabase('rl_block');
    const store = await open();
    const ds = await consumeN(store, 'dev:x', { limit: 2, windowMs: 60_000 }, 6);
    expect(ds.map((d) => d.allowed)).toEqual([true, true, false, false, false, false]);
    const rows = await query<{ points: number }>("select points from flock_rate_limits where key like '%dev:x'");
    expect(rows.map((r) => r.points)).toEqual([3]);
  });

  it('hashes keys too long for the key column', async () => {
    db = await createTestDatabase('rl_long');
    const store = await open({ retryMs: 60_000 });
    const long = 'dev:' + 'x'.repeat(400);
    expect((await consumeN(store, long, { limit: 1, windowMs: 60_000 }, 2)).map((d) => d.allowed)).toEqual([
      true,
      false,
    ]);
    const rows = await query<{ key: string }>('select key from flock_rate_limits');
    expect(rows).toHaveLength(1);
    expect(rows[0].key).toMatch(/sha256:[0-9a-f]{64}$/);
  });

  it('sweeps rows whose window has ended', async () => {
    db = await createTestDatabase('rl_sweep');
    const store = await openPostgresRateLimitStore({ connectionString: db.url });
    stores.push(store);
    await store.consume('short', { limit: 5, windowMs: 50 });
    await store.consume('long', { limit: 5, windowMs: 60_000 });
    await sleep(80);
    expect(await store.sweepExpired()).toBe(1);
    const rows = await query<{ key: string }>('select key from flock_rate_limits');
    expect(rows.map((r) => r.key)).toEqual(['5/60000:long']);
  });
});
