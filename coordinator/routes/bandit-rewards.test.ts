/**
 * Bandit rewards count every feedback row, however many: 3,000 feedback
 * batches (1,500 per arm, past the store's 1,000-row page) sent through
 * `POST /v1/telemetry` to a coordinator on a real SQLite data directory, and
 * `GET /v1/admin/bandits/:app` counts each outcome, live (no reallocation
 * in between), and so does the reallocation. The old code read one page per
 * arm and counted 1,000 of the 1,500.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import {
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
  type Fetcher,
  type FleetDevice,
} from './fleet.fixture.ts';

const adminKey = testAdminKey();
const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
const DEVICES = 60;
const BATCHES_PER_DEVICE_AND_ARM = 25;
let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let devices: FleetDevice[];

type View = {
  rewards: Array<{ version: number; successes: number; failures: number; outcomes: number; devices: number }>;
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-bandit-rewards-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    rateLimits: { registerPerIp: { limit: 10_000, windowMs: 60_000 }, perDevice: { limit: 10_000, windowMs: 60_000 } },
  });
  f = async (path, init) => flock.app.request(path, init);
  const files = await mnistModelFiles('mlp-small');
  expect((await pushModel(f, adminKey, 'digits', files, 'production')).status).toBe(201);
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201);
  devices = [];
  for (let i = 0; i < DEVICES; i++) devices.push(await registerDevice(f, 'digits'));
}, 120_000);

afterAll(async () => {
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('bandit rewards', () => {
  it('counts every outcome of more than 1,000 feedback batches per arm, live and at reallocation', async () => {
    const started = await f('/v1/admin/bandits', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ app: 'digits', versions: [1, 2], reallocateSeconds: 3600 }),
    });
    expect(started.status).toBe(201);
    const sent = new Map<number, { correct: number; incorrect: number }>([
      [1, { correct: 0, incorrect: 0 }],
      [2, { correct: 0, incorrect: 0 }],
    ]);
    let batches = 0;
    for (const [i, d] of devices.entries()) {
      for (const version of [1, 2]) {
        // Each device stays under the per-device cap (200 outcomes per version), so capped = sent.
        const events = Array.from({ length: BATCHES_PER_DEVICE_AND_ARM }, (_, k) => ({
          type: 'feedback',
          at: new Date().toISOString(),
          correct: version === 2 ? 3 : 1 + ((i + k) % 2),
          incorrect: version === 2 ? 1 : 2,
        }));
        const res = await f('/v1/telemetry', {
          method: 'POST',
          headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ deviceId: d.deviceId, app: 'digits', modelVersion: version, events }),
        });
        expect(res.status).toBe(202);
        const s = sent.get(version)!;
        for (const e of events) {
          s.correct += e.correct;
          s.incorrect += e.incorrect;
        }
        batches += events.length;
      }
    }
    expect(batches).toBe(3000);

    const check = (view: View) => {
      for (const version of [1, 2]) {
        const r = view.rewards.find((x) => x.version === version)!;
        const s = sent.get(version)!;
        expect(r.successes).toBe(s.correct);
        expect(r.failures).toBe(s.incorrect);
        expect(r.outcomes).toBe(s.correct + s.incorrect);
        expect(r.devices).toBe(DEVICES);
      }
    };
    const live = await f('/v1/admin/bandits/digits', { headers: admin });
    expect(live.status).toBe(200);
    check((await live.json()) as View);
    const reallocated = await f('/v1/admin/bandits/digits/reallocate', { method: 'POST', headers: admin });
    expect(reallocated.status).toBe(200);
    check((await reallocated.json()) as View);
  }, 120_000);

  it('refuses a page larger than the store serves instead of lowering it', async () => {
    await expect(flock.deps.store.listTelemetry({ app: 'digits', kind: 'feedback', limit: 100_000 })).rejects.toThrow(
      /at most 1000/,
    );
    expect(await flock.deps.store.listTelemetry({ app: 'digits', kind: 'feedback', limit: 1000 })).toHaveLength(1000);
  });
});
