/**
 * The device census through the real route on SQLite: devices counted by
 * the backend and version their telemetry last reported (the registration's
 * backend when they sent none), and by last seen.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { censusOf, type DeviceCensus } from './device-census.ts';
import { mnistModelFiles, pushModel, registerDevice, testAdminKey, type Fetcher } from './fleet.fixture.ts';

const adminKey = testAdminKey();
let dataDir: string;
let flock: Coordinator;
let f: Fetcher;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-census-'));
  flock = await createCoordinator({ dataDir, adminKey, log: pino({ level: 'silent' }), sweep: false });
  f = async (path, init) => flock.app.request(path, init);
  expect((await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small'), 'production')).status).toBe(201);
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('device census', () => {
  it('counts devices by reported backend and version, and by last seen', async () => {
    for (const backend of ['webgpu', 'wasm', 'wasm']) {
      const d = await registerDevice(f, 'digits');
      const events = [
        {
          type: 'model-loaded',
          at: new Date().toISOString(),
          version: 1,
          generation: 1,
          encoding: 'int8',
          backend,
          fromCache: false,
        },
      ];
      const res = await f('/v1/telemetry', {
        method: 'POST',
        headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ deviceId: d.deviceId, app: 'digits', modelVersion: 1, events }),
      });
      expect(res.status).toBe(202);
    }
    await registerDevice(f, 'digits'); // silent since it registered
    const res = await f('/v1/admin/apps/digits/devices/census', { headers: { authorization: `Bearer ${adminKey}` } });
    expect(res.status).toBe(200);
    const census = (await res.json()) as DeviceCensus;
    expect(census.devices).toBe(4);
    expect(census.byVersion).toEqual({ 1: 3, none: 1 });
    expect(census.byBackend.webgpu).toBe(1);
    expect(census.byBackend.wasm).toBe(2);
    expect(census.byLastSeen['under 5 min']).toBe(4);
    expect(census.truncated).toBe(false);
  });

  it('buckets last seen by age', () => {
    const now = new Date('2026-01-10T00:00:00Z');
    const device = (deviceId: string, lastSeenAt: string) => ({
      deviceId,
      app: 'a',
      tokenHash: '',
      platform: {},
      capabilities: {},
      createdAt: lastSeenAt,
      lastSeenAt,
    });
    const c = censusOf(
      'a',
      [
        device('d1', '2026-01-09T23:58:00Z'),
        device('d2', '2026-01-09T12:00:00Z'),
        device('d3', '2025-12-01T00:00:00Z'),
      ],
      [],
      now,
    );
    expect(c.byLastSeen).toEqual({ 'under 5 min': 1, 'under 1 h': 0, 'under 24 h': 1, 'under 7 days': 0, older: 1 });
    expect(c.byBackend).toEqual({ unknown: 3 });
  });
});
