/**
 * Shadow and bandit through `app.request` on a real SQLite data directory:
 * a rollout with a shadow hands devices a signed shadow manifest beside the
 * (unchanged, strict) manifest, and its report aggregates 'shadow' telemetry;
 * the bandit preview favours the version with better labelled feedback.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyManifest, type SignedManifest } from '../../shared/manifest/index.ts';
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
let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let devices: FleetDevice[];

async function telemetry(d: FleetDevice, version: number, events: Record<string, unknown>[]) {
  const at = new Date().toISOString();
  const res = await f('/v1/telemetry', {
    method: 'POST',
    headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      deviceId: d.deviceId,
      app: 'digits',
      modelVersion: version,
      events: events.map((e) => ({ at, ...e })),
    }),
  });
  expect(res.status).toBe(202);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-modes-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    rateLimits: { registerPerIp: { limit: 10_000, windowMs: 60_000 }, perDevice: { limit: 10_000, windowMs: 60_000 } },
  });
  f = async (path, init) => flock.app.request(path, init);
  const files = await mnistModelFiles('mlp-small');
  expect((await pushModel(f, adminKey, 'digits', files, 'production')).status).toBe(201); // v1
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201); // v2: candidate
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201); // v3: shadow
  devices = [];
  for (let i = 0; i < 6; i++) devices.push(await registerDevice(f, 'digits'));
}, 120_000);
afterAll(async () => {
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('shadow mode', () => {
  it('has no shadow before a rollout names one', async () => {
    const res = await f('/v1/apps/digits/shadow', { headers: { authorization: `Bearer ${devices[0].token}` } });
    expect(res.status).toBe(404);
  });

  it('rejects production itself as the shadow', async () => {
    const res = await f('/v1/admin/rollouts', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ app: 'digits', candidateVersion: 2, shadow: { version: 1, sampleRate: 0.1 } }),
    });
    expect(res.status).toBe(400);
  });

  it('serves a signed shadow manifest to devices only, and reports agreement and latency', async () => {
    const start = await f('/v1/admin/rollouts', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        app: 'digits',
        candidateVersion: 2,
        minStageSeconds: 3600,
        shadow: { version: 3, sampleRate: 0.25 },
      }),
    });
    expect(start.status).toBe(201);
    const rollout = (await start.json()) as { id: string; shadow: unknown; metrics: Record<string, unknown> };
    expect(rollout.shadow).toEqual({ version: 3, sampleRate: 0.25 });
    // The shadow is the rollout's own field, not a metric rule.
    expect(rollout.metrics).not.toHaveProperty('shadow');
    expect(Object.keys(rollout.metrics).length).toBeGreaterThan(0);

    expect((await f('/v1/apps/digits/shadow')).status).toBe(401);
    expect((await f('/v1/apps/digits/shadow', { headers: { authorization: `Bearer ${adminKey}` } })).status).toBe(403);
    const res = await f('/v1/apps/digits/shadow', { headers: { authorization: `Bearer ${devices[0].token}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      version: number;
      sampleRate: number;
      rolloutId: string;
      manifest: SignedManifest;
    };
    expect(body).toMatchObject({ version: 3, sampleRate: 0.25, rolloutId: rollout.id });
    const { publicKey } = (await (await f('/v1/keys/manifest')).json()) as { publicKey: string };
    const verified = await verifyManifest(body.manifest, publicKey, { purpose: 'shadow' });
    expect(verified.version).toBe(3);
    expect(verified.purpose).toBe('shadow');
    expect(verified.rollout).toEqual({ id: rollout.id, cohort: 'shadow' });
    await expect(verifyManifest(body.manifest, publicKey)).rejects.toMatchObject({ code: 'wrong_purpose' });

    // Two devices on production v1 compare with the shadow; one sends a stale shadow version's event.
    await telemetry(devices[0], 1, [
      { type: 'shadow', shadowVersion: 3, count: 20, agreed: 18, productionMeanMs: 5, shadowMeanMs: 7 },
    ]);
    await telemetry(devices[1], 1, [
      { type: 'shadow', shadowVersion: 3, count: 20, agreed: 20, productionMeanMs: 5, shadowMeanMs: 5 },
    ]);
    await telemetry(devices[2], 1, [
      { type: 'shadow', shadowVersion: 2, count: 50, agreed: 0, productionMeanMs: 1, shadowMeanMs: 1 },
    ]);
    const show = await f(`/v1/admin/rollouts/${rollout.id}`, { headers: admin });
    expect(show.status).toBe(200);
    const report = ((await show.json()) as { shadowReport: Record<string, unknown> }).shadowReport;
    expect(report).toMatchObject({
      shadowVersion: 3,
      comparisons: 40,
      devices: 2,
      agreementRate: 38 / 40,
      latencyDeltaMs: 1,
    });
  });

  it('refuses a shadow event claiming more agreements than comparisons', async () => {
    const res = await f('/v1/telemetry', {
      method: 'POST',
      headers: { authorization: `Bearer ${devices[0].token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        deviceId: devices[0].deviceId,
        app: 'digits',
        modelVersion: 1,
        events: [
          {
            type: 'shadow',
            at: new Date().toISOString(),
            shadowVersion: 3,
            count: 1,
            agreed: 2,
            productionMeanMs: 1,
            shadowMeanMs: 1,
          },
        ],
      }),
    });
    expect(res.status).toBe(400);
  });
});

describe('bandit preview', () => {
  it('allocates most traffic to the version with better labelled feedback', async () => {
    for (const d of devices.slice(0, 3)) await telemetry(d, 1, [{ type: 'feedback', correct: 60, incorrect: 40 }]);
    for (const d of devices.slice(3)) await telemetry(d, 2, [{ type: 'feedback', correct: 90, incorrect: 10 }]);
    const res = await f('/v1/admin/models/digits/bandit?versions=1,2', { headers: admin });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { shares: number[]; rewards: { version: number; successes: number }[] };
    expect(body.rewards).toEqual([
      { version: 1, successes: 180, failures: 120 },
      { version: 2, successes: 270, failures: 30 },
    ]);
    expect(body.shares[1]).toBeGreaterThan(0.95);
    expect((await f('/v1/admin/models/digits/bandit?versions=1', { headers: admin })).status).toBe(400);
  });
});
