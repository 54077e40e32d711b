/**
 * `limitRate` over HTTP: the draft-7 headers, the 429 shape with Retry-After
 * taken from the key's real reset time, and, on PostgreSQL, two coordinators
 * on one database holding one registration limit together (the memory
 * default lets each process spend the full limit). PostgreSQL parts skip,
 * with the reason printed, when FLOCK_TEST_DATABASE_URL is unset.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../../test/pg/test-database.ts';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { testAdminKey } from '../routes/fleet.fixture.ts';
import { openPostgresStore } from '../store/index.ts';
import { limitRate } from './limits.ts';
import {
  memoryRateLimitStore,
  openPostgresRateLimitStore,
  type RateLimitDecision,
  type RateLimitStore,
} from './rate-limit-store.ts';

function appWith(store?: RateLimitStore) {
  const app = new Hono();
  app.use(
    '/x',
    limitRate({ limit: 2, windowMs: 30_000 }, (c) => c.req.header('x-key') ?? 'anon', store),
  );
  app.get('/x', (c) => c.text('ok'));
  return app;
}
const hit = (app: Hono, key = 'a') => app.request('/x', { headers: { 'x-key': key } });

describe('limitRate', () => {
  it('sends the draft-7 headers, then refuses with 429 rate_limited and Retry-After', async () => {
    const app = appWith(memoryRateLimitStore());
    const first = await hit(app);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('2;w=30');
    expect(first.headers.get('ratelimit')).toBe('limit=2, remaining=1, reset=30');
    expect(first.headers.get('retry-after')).toBeNull();
    expect((await hit(app)).headers.get('ratelimit')).toBe('limit=2, remaining=0, reset=30');
    const refused = await hit(app);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(await refused.json()).toEqual({
      error: {
        code: 'rate_limited',
        message: 'too many requests; retry after 30 s',
        details: { retryAfterSeconds: 30 },
      },
    });
    expect((await hit(app, 'b')).status).toBe(200);
  });

  it('reports the time left in the window as Retry-After, never 0', async () => {
    let next: RateLimitDecision = { allowed: false, remaining: 0, resetMs: 12_345 };
    const fixed: RateLimitStore = { kind: 'memory', consume: async () => next, close: async () => undefined };
    const app = appWith(fixed);
    const refused = await hit(app);
    expect(refused.headers.get('retry-after')).toBe('13');
    expect(refused.headers.get('ratelimit')).toBe('limit=2, remaining=0, reset=13');
    next = { allowed: false, remaining: 0, resetMs: 0 };
    expect((await hit(app)).headers.get('retry-after')).toBe('1');
  });

  it('counts in its own memory when given no store', async () => {
    const app = appWith();
    expect([(await hit(app)).status, (await hit(app)).status, (await hit(app)).status]).toEqual([200, 200, 429]);
  });

  it('refuses a rate it cannot enforce when the route is built', () => {
    expect(() => limitRate({ limit: 5, windowMs: -1 }, () => 'k')).toThrow(/positive windowMs/);
  });
});

const skip = skipWithoutPostgres('rate limits across coordinator processes');

describe.skipIf(skip)('registration limits across two coordinators on one PostgreSQL database', () => {
  const adminKey = testAdminKey();
  let db: TestDatabase | undefined;
  let dataDir: string | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await db?.drop();
    db = undefined;
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function twoCoordinators(shared: boolean): Promise<Coordinator[]> {
    db = await createTestDatabase(shared ? 'rl_app_shared' : 'rl_app_memory');
    dataDir = await mkdtemp(join(tmpdir(), 'flock-rl-'));
    const open = async (): Promise<Coordinator> => {
      const store = await openPostgresStore({ connectionString: db!.url, poolSize: 2 });
      const rateLimitStore = shared ? await openPostgresRateLimitStore({ connectionString: db!.url }) : undefined;
      if (rateLimitStore) cleanups.push(() => rateLimitStore.close());
      const flock = await createCoordinator({
        dataDir: dataDir!,
        store,
        adminKey,
        sweep: false,
        log: pino({ level: 'silent' }),
        rateLimitStore,
        rateLimits: { registerPerIp: { limit: 10, windowMs: 60_000 }, perDevice: { limit: 100, windowMs: 60_000 } },
      });
      cleanups.push(() => flock.close());
      return flock;
    };
    // One after the other: both migrate the same database, which the store serializes anyway.
    return [await open(), await open()];
  }
  const registerOn = (flock: Coordinator) =>
    flock.app.request('/v1/devices', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ app: 'digits' }),
    });

  it('lets exactly the limit through in total, refusing the rest with Retry-After', async () => {
    const [a, b] = await twoCoordinators(true);
    const answers = await Promise.all([...Array(6)].flatMap(() => [registerOn(a), registerOn(b)]));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(10);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused).toHaveLength(2);
    for (const r of refused) {
      const seconds = Number(r.headers.get('retry-after'));
      expect(seconds).toBeGreaterThan(50);
      expect(seconds).toBeLessThanOrEqual(60);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    }
    expect(await a.deps.store.countDevices('digits')).toBe(10);
  });

  it('control: with the in-memory default each process spends the full limit', async () => {
    const [a, b] = await twoCoordinators(false);
    const answers = await Promise.all([...Array(6)].flatMap(() => [registerOn(a), registerOn(b)]));
    expect(answers.map((r) => r.status)).toEqual(Array(12).fill(201));
  });
});
