/**
 * What several `flock serve --store postgres://...` processes share besides
 * rows: a device streaming manifest events from process B hears a promotion
 * made through process A's admin API well before B's 15 s heartbeat re-check
 * (LISTEN/NOTIFY), and the per-IP registration limit (60 a minute by default)
 * holds for the fleet, not per process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAdminKey } from '../../cli/admin-key.ts';
import { DEFAULT_CONFIG } from '../../coordinator/config.ts';
import { httpFetcher, mnistModelFiles, pushModel, registerDevice } from '../../coordinator/routes/fleet.fixture.ts';
import { startCoordinatorProcess, type CoordinatorProcess } from '../pg/coordinator-processes.ts';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../pg/test-database.ts';
import { sseReader } from './sse-reader.ts';

const skip = skipWithoutPostgres('processes sharing SSE events and rate limits');
const adminKey = generateAdminKey();

describe.skipIf(skip)('several flock serve processes on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  beforeAll(async () => {
    db = await createTestDatabase('sharing');
    [a, b] = await Promise.all([
      startCoordinatorProcess({ databaseUrl: db.url, adminKey }),
      startCoordinatorProcess({ databaseUrl: db.url, adminKey }),
    ]);
  }, 120_000);
  afterAll(async () => {
    for (const p of [a, b]) {
      if (!p) continue;
      p.child.kill('SIGTERM');
      await p.exited;
    }
    await db?.drop();
  });

  it('a promotion on A reaches a device streaming from B in well under the heartbeat', async () => {
    const fa = httpFetcher(a.base);
    const fb = httpFetcher(b.base);
    const files = await mnistModelFiles('mlp-small', 3);
    expect((await pushModel(fa, adminKey, 'digits', files, 'production')).status).toBe(201);
    expect((await pushModel(fa, adminKey, 'digits', files, 'candidate')).status).toBe(201);
    const device = await registerDevice(fb, 'digits');
    const res = await fb('/v1/apps/digits/events', { headers: { authorization: `Bearer ${device.token}` } });
    expect(res.status).toBe(200);
    const stream = sseReader(res);
    try {
      const first = await stream.until(10_000, (e) => e.event === 'manifest');
      expect(first.map((e) => e.event)).toEqual(['hello', 'manifest']);
      expect(first[0].data.heartbeatMs).toBe(DEFAULT_CONFIG.sseHeartbeatMs);
      expect(first[1].data.version).toBe(1);

      const promotedAt = Date.now();
      const promoted = await fa('/v1/admin/models/digits/versions/2/stage', {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ stage: 'production', reason: 'multi-process fan-out test' }),
      });
      expect(promoted.status).toBe(200);
      const seen = await stream.until(5_000, (e) => e.event === 'manifest');
      const manifest = seen.find((e) => e.event === 'manifest');
      expect(manifest?.data.version).toBe(2);
      expect(Date.now() - promotedAt).toBeLessThan(5_000);
      expect(seen.some((e) => e.event === 'heartbeat')).toBe(false);
    } finally {
      await stream.cancel();
    }
  }, 60_000);

  it('the per-IP registration limit holds across processes: 40 + 40 attempts, the fleet admits exactly the limit', async () => {
    const limit = DEFAULT_CONFIG.rateLimits.registerPerIp.limit;
    const register = (base: string) =>
      fetch(`${base}/v1/devices`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ app: 'limits', platform: { runtime: 'node' } }),
      });
    const answers = await Promise.all(Array.from({ length: 80 }, (_, i) => register(i % 2 ? b.base : a.base)));
    const statuses = answers.map((r) => r.status);
    // The first test registered one device from this IP in the same window.
    expect(statuses.filter((s) => s === 201)).toHaveLength(limit - 1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(80 - (limit - 1));
    const refused = answers.find((r) => r.status === 429)!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Counted per process, each would have admitted all of its 40.
    for (const r of answers) await r.arrayBuffer();
  }, 60_000);
});
