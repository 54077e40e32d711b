/**
 * Bandit mode served end to end through `app.request` on a real SQLite data
 * directory: an even sticky split, reallocation towards the version with
 * better labelled feedback without moving devices the other way, monotonic
 * generations, state surviving a restart, and a stop that returns everyone
 * to production in a newer generation.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyManifest, type SignedManifest } from '../../shared/manifest/index.ts';
import { adminAnswer } from '../admin-client.ts';
import { createCoordinator, type Coordinator, type CreateCoordinatorOptions } from '../coordinator.ts';
import {
  fleetAdmin,
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
  type Fetcher,
  type FleetDevice,
} from './fleet.fixture.ts';

const adminKey = testAdminKey();
let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let devices: FleetDevice[];
let publicKey: string;

const options = (): CreateCoordinatorOptions => ({
  dataDir,
  adminKey,
  log: pino({ level: 'silent' }),
  sweep: false,
  rateLimits: { registerPerIp: { limit: 10_000, windowMs: 60_000 }, perDevice: { limit: 10_000, windowMs: 60_000 } },
});
const open = async () => {
  flock = await createCoordinator(options());
  f = async (path, init) => flock.app.request(path, init);
  publicKey = ((await (await f('/v1/keys/manifest')).json()) as { publicKey: string }).publicKey;
};

async function manifestOf(d: FleetDevice): Promise<SignedManifest['manifest']> {
  const res = await f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${d.token}` } });
  expect(res.status).toBe(200);
  return verifyManifest(await res.json(), publicKey, { app: 'digits' });
}

async function assignments(): Promise<Map<string, { version: number; generation: number; cohort?: string }>> {
  const out = new Map<string, { version: number; generation: number; cohort?: string }>();
  for (const d of devices) {
    const m = await manifestOf(d);
    out.set(d.deviceId, { version: m.version, generation: m.generation, cohort: m.rollout?.cohort });
  }
  return out;
}

async function feedback(d: FleetDevice, version: number, correct: number, incorrect: number) {
  const res = await f('/v1/telemetry', {
    method: 'POST',
    headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      deviceId: d.deviceId,
      app: 'digits',
      modelVersion: version,
      events: [{ type: 'feedback', at: new Date().toISOString(), correct, incorrect }],
    }),
  });
  expect(res.status).toBe(202);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-bandit-'));
  await open();
  const files = await mnistModelFiles('mlp-small');
  expect((await pushModel(f, adminKey, 'digits', files, 'production')).status).toBe(201);
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201);
  devices = [];
  for (let i = 0; i < 120; i++) devices.push(await registerDevice(f, 'digits'));
}, 120_000);

afterAll(async () => {
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** `f` changes when the coordinator restarts: a client per call. */
const api = () => fleetAdmin(f, adminKey);

describe('bandit mode', () => {
  it('refuses bad starts with clear errors', async () => {
    const start = (key: string, versions: number[]) =>
      adminAnswer(fleetAdmin(f, key).v1.admin.bandits.$post({ json: { app: 'digits', versions } })).catch((e) => e);
    expect(await start(adminKey, [1])).toMatchObject({ code: 'validation_failed', status: 400 });
    expect(await start(adminKey, [1, 9])).toMatchObject({ status: 404 });
    expect(await start(devices[0].token, [1, 2])).toMatchObject({ code: 'forbidden', status: 403 });
  });

  it('splits evenly, moves traffic to the better version without flipping devices back, and survives a restart', async () => {
    const started = await adminAnswer(
      api().v1.admin.bandits.$post({ json: { app: 'digits', versions: [1, 2], reallocateSeconds: 3600 } }),
    );
    expect(started.state.shares).toEqual([0.5, 0.5]);
    const again = await adminAnswer(api().v1.admin.bandits.$post({ json: { app: 'digits', versions: [1, 2] } })).catch(
      (e) => e,
    );
    expect(again).toMatchObject({ code: 'conflict', status: 409 });

    const first = await assignments();
    const onTwo = [...first.values()].filter((a) => a.version === 2).length;
    // Even split of 120 devices: binomial(120, 0.5) stays within [40, 80] except with p < 1e-4.
    expect(onTwo).toBeGreaterThan(40);
    expect(onTwo).toBeLessThan(80);
    for (const a of first.values()) expect(a.cohort).toMatch(/^arm-[01]$/);
    const sticky = await assignments();
    for (const [id, a] of first) expect(sticky.get(id)!.version).toBe(a.version);

    // Version 2 is far better on labelled feedback.
    for (const d of devices) {
      const a = first.get(d.deviceId)!;
      await feedback(d, a.version, a.version === 2 ? 95 : 40, a.version === 2 ? 5 : 60);
    }
    let previous = first;
    let share = 0.5;
    for (let i = 0; i < 3; i++) {
      const view = await adminAnswer(api().v1.admin.bandits[':app'].reallocate.$post({ param: { app: 'digits' } }));
      expect(view.rewards.find((r) => r.version === 2)!.successes).toBeGreaterThan(
        view.rewards.find((r) => r.version === 1)!.successes,
      );
      expect(view.state.shares[1]).toBeGreaterThanOrEqual(share);
      share = view.state.shares[1];
      const now = await assignments();
      for (const [id, a] of previous) {
        // Devices only ever move towards the version gaining traffic, and generations never go back.
        if (a.version === 2) expect(now.get(id)!.version).toBe(2);
        expect(now.get(id)!.generation).toBeGreaterThanOrEqual(a.generation);
      }
      previous = now;
    }
    expect(share).toBeGreaterThan(0.8);
    const finalOnTwo = [...previous.values()].filter((a) => a.version === 2).length;
    expect(finalOnTwo).toBeGreaterThan(onTwo);

    await flock.close();
    await open();
    const afterRestart = await assignments();
    for (const [id, a] of previous) expect(afterRestart.get(id)!.version).toBe(a.version);
  }, 180_000);

  it('stops: everyone gets production in a newer generation, and the stop is audited', async () => {
    const before = await assignments();
    const stopped = await adminAnswer(api().v1.admin.bandits[':app'].stop.$post({ param: { app: 'digits' } }));
    expect(stopped.status).toBe('stopped');
    const after = await assignments();
    const newest = Math.max(...[...before.values()].map((a) => a.generation));
    for (const a of after.values()) {
      expect(a.version).toBe(1);
      expect(a.generation).toBeGreaterThan(newest);
      expect(a.cohort).toBeUndefined();
    }
    const audit = await adminAnswer(api().v1.admin.audit.$get({ query: { limit: '50' } }));
    const actions = audit.entries.map((e) => e.action);
    expect(actions).toContain('bandit.start');
    expect(actions).toContain('bandit.reallocate');
    expect(actions).toContain('bandit.stop');
  }, 60_000);
});
