/**
 * Over HTTP (`app.request`, real SQLite): a task's privacy budget stops it
 * opening rounds and each produced version records its epsilon; per-IP and
 * per-device rate limits and the update body limit answer in the shared
 * error shape and change nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeEpsilon } from '../../shared/dp/index.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import type { CheckInSelected } from '../../shared/protocol/index.ts';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import {
  checkIn,
  createTask,
  deltaTensors,
  encodeUpdate,
  mnistModelFiles,
  pushModel,
  putUpdate,
  registerDevice,
  testAdminKey,
  updateMeta,
  type Fetcher,
  type FleetDevice,
} from './fleet.fixture.ts';

let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let specs: WeightSpec[];
const devices: FleetDevice[] = [];
const adminKey = testAdminKey();
const admin = { authorization: `Bearer ${adminKey}` };
const register = () =>
  f('/v1/devices', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ app: 'digits' }),
  });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-privacy-limits-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    rateLimits: { registerPerIp: { limit: 3, windowMs: 60_000 }, perDevice: { limit: 25, windowMs: 60_000 } },
    limits: { modelBytes: 64 << 20, updateBytes: 300_000, jsonBytes: 64 << 10, telemetryBytes: 1 << 20 },
  });
  f = async (path, init) => flock.app.request(path, init);
  expect((await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small'), 'production')).status).toBe(201);
  specs = (await flock.deps.store.getModelVersion('digits', 1))!.weightSpecs;
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('rate and body limits', () => {
  it('refuses registrations beyond the per-IP limit with 429 and Retry-After, creating no device', async () => {
    for (let i = 0; i < 3; i++) devices.push(await registerDevice(f, 'digits'));
    const refused = await register();
    expect(refused.status).toBe(429);
    // The time left in the 60 s window: a little less than 60 on a slow machine, never 0.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(50);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    expect(await flock.deps.store.countDevices('digits')).toBe(3);
  });

  it('limits requests per device, not per fleet', async () => {
    const spender = devices[2];
    const statuses: number[] = [];
    for (let i = 0; i < 26; i++)
      statuses.push(
        (await f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${spender.token}` } })).status,
      );
    expect(statuses.slice(0, 25).every((s) => s === 200)).toBe(true);
    expect(statuses[25]).toBe(429);
    expect(
      (await f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${devices[0].token}` } })).status,
    ).toBe(200);
  });

  it('refuses an update body over the route limit with 413 before it reaches the round', async () => {
    const taskRes = await createTask(f, adminKey, 'digits', 1, { population: 10, clientsPerRound: 1 });
    const taskId = ((await taskRes.json()) as { id: string }).id;
    const selected = (await checkIn(f, devices[0], taskId)).body as CheckInSelected;
    expect(selected.status).toBe('selected');
    const res = await putUpdate(
      f,
      devices[0].token,
      selected.roundId,
      new Uint8Array(350_000),
      JSON.stringify(updateMeta(selected.roundId, devices[0].deviceId)),
    );
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    expect((await flock.deps.store.getRound(selected.roundId))!.reportedCount).toBe(0);
    await f(`/v1/admin/tasks/${taskId}/pause`, { method: 'POST', headers: admin });
  });
});

describe('privacy budget', () => {
  // First-come selection earns no amplification: every round is charged at q = 1 (not clientsPerRound / population).
  const q = 1;
  const delta = 1e-5;
  const eps = (steps: number) => computeEpsilon({ samplingRate: q, noiseMultiplier: 1, steps, delta }).epsilon;
  const plan = (epsilon: number) => ({
    population: 10,
    clientsPerRound: 2,
    minReports: 2,
    overSelection: 1,
    noiseMultiplier: 1,
    clipNorm: 1,
    privacyBudget: { epsilon, delta },
  });
  const taskOf = async (epsilon: number) =>
    ((await (await createTask(f, adminKey, 'digits', 1, plan(epsilon))).json()) as { id: string }).id;

  it('records epsilon on the produced version, then stops opening rounds once the next would overspend', async () => {
    const taskId = await taskOf((eps(1) + eps(2)) / 2);
    let roundId = '';
    for (const [k, d] of devices.slice(0, 2).entries()) {
      const answer = (await checkIn(f, d, taskId)).body as CheckInSelected;
      expect(answer.status).toBe('selected');
      roundId = answer.roundId;
      const body = encodeUpdate(deltaTensors(specs, (t, i) => 1e-4 * (((i + k + t) % 5) - 2)));
      expect((await putUpdate(f, d.token, roundId, body, JSON.stringify(updateMeta(roundId, d.deviceId)))).status).toBe(
        200,
      );
    }
    const closed = await flock.deps.rounds.closeRound(roundId, 'quorum');
    expect(closed?.status).toBe('closed');
    const version = (await (
      await f(`/v1/admin/models/digits/versions/${closed!.resultVersion}`, { headers: admin })
    ).json()) as { epsilon: number; noiseMultiplier: number; source: string };
    expect(version.source).toBe('round');
    expect(version.noiseMultiplier).toBe(1);
    expect(version.epsilon).toBeCloseTo(eps(1), 8);

    const next = await checkIn(f, devices[1], taskId);
    expect(next.body).toMatchObject({ status: 'retry', reason: 'budget_exhausted' });
    expect(Number(next.retryAfter)).toBeGreaterThan(0);
    const view = (await (await f(`/v1/admin/tasks/${taskId}`, { headers: admin })).json()) as {
      status: string;
      privacySpent: { epsilon: number; delta: number };
      roundsCompleted: number;
    };
    expect(view.status).toBe('budget_exhausted');
    expect(view.privacySpent.epsilon).toBeCloseTo(eps(1), 8);
    expect(view.privacySpent.delta).toBe(delta);
    expect(await flock.deps.store.listRounds({ taskId, limit: 10 })).toHaveLength(1);
    const audit = (await (await f('/v1/admin/audit?action=task.budget_exhausted', { headers: admin })).json()) as {
      entries: Array<{ target: string }>;
    };
    expect(audit.entries.map((e) => e.target)).toContain(taskId);
  });

  it('a budget smaller than one round never opens a round', async () => {
    const taskId = await taskOf(eps(1) / 2);
    const answer = await checkIn(f, devices[0], taskId);
    expect(answer.body).toMatchObject({ status: 'retry', reason: 'budget_exhausted' });
    expect(await flock.deps.store.listRounds({ taskId, limit: 10 })).toHaveLength(0);
    expect((await flock.deps.store.getTask(taskId))!.epsilonSpent).toBe(0);
  });
});
