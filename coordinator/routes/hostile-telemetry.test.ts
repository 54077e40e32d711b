/**
 * Hostile telemetry against a real coordinator (SQLite data directory,
 * `app.request`): the original single-device canary attack, device-sent
 * names that are Object.prototype keys, the per-device telemetry quota and
 * retention.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedManifest } from '../../shared/manifest/index.ts';
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
const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let devices: FleetDevice[];

function postTelemetry(d: FleetDevice, version: number, events: Record<string, unknown>[]) {
  const at = new Date().toISOString();
  return f('/v1/telemetry', {
    method: 'POST',
    headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      deviceId: d.deviceId,
      app: 'digits',
      modelVersion: version,
      events: events.map((e) => ({ at, ...e })),
    }),
  });
}
async function manifestOf(d: FleetDevice): Promise<SignedManifest['manifest']> {
  const res = await f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${d.token}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as SignedManifest).manifest;
}
const loaded = (version: number, generation: number) => ({
  type: 'model-loaded',
  version,
  generation,
  encoding: 'int8',
  backend: 'wasm',
  fromCache: false,
});
const features = (shift: number) => ({
  type: 'feature-summary',
  count: 50,
  features: PROTO_NAMES.map((name) => ({
    name,
    mean: 0.5,
    variance: 0.1,
    histogram: { min: 0, max: 1, counts: [10 + shift, 20, 20 - shift] },
  })),
});

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-hostile-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    rateLimits: { registerPerIp: { limit: 10_000, windowMs: 60_000 }, perDevice: { limit: 10_000, windowMs: 60_000 } },
    telemetryQuota: { bytes: 64 * 1024, rows: 40, windowMs: 60_000 },
    telemetryRetentionMs: 30 * 86_400_000,
  });
  f = async (path, init) => flock.app.request(path, init);
  const files = await mnistModelFiles('mlp-small');
  expect((await pushModel(f, adminKey, 'digits', files, 'production')).status).toBe(201);
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201);
  devices = [];
  for (let i = 0; i < 40; i++) devices.push(await registerDevice(f, 'digits'));
}, 120_000);
afterAll(async () => {
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('hostile telemetry', () => {
  let rolloutId = '';

  it('one device outside the canary claiming the candidate with 1000 errors does not roll it back', async () => {
    const res = await f('/v1/admin/rollouts', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        app: 'digits',
        candidateVersion: 2,
        stages: [50, 100],
        minStageSeconds: 3600,
        minSamples: 3,
        metrics: { accuracy: { minSamples: 50 } },
      }),
    });
    expect(res.status).toBe(201);
    rolloutId = ((await res.json()) as { id: string }).id;
    const cohorts = new Map<string, string | undefined>();
    // Honest devices, both versions equal; every name a device can send is a prototype key.
    for (const d of devices.slice(0, 30)) {
      const m = await manifestOf(d);
      cohorts.set(d.deviceId, m.rollout?.cohort);
      const counts = Object.fromEntries(PROTO_NAMES.map((n) => [n, 10]));
      const r = await postTelemetry(d, m.version, [
        loaded(m.version, m.generation),
        { type: 'predictions', counts },
        { type: 'feedback', correct: 45, incorrect: 5 },
        { type: 'error', where: 'predict', code: 'constructor', count: 1 },
        features(m.version === 2 ? 5 : 0),
      ]);
      expect(r.status).toBe(202);
    }
    expect([...cohorts.values()].filter((c) => c === 'canary').length).toBeGreaterThanOrEqual(5);
    let liar: FleetDevice | undefined;
    for (const d of devices.slice(30, 37)) if (!liar && (await manifestOf(d)).rollout?.cohort === 'control') liar = d;
    if (!liar) throw new Error('no control-cohort device among 7 (p = 1/128); rerun');
    expect(
      (await postTelemetry(liar, 2, [loaded(2, 99), { type: 'error', where: 'predict', code: 'x', count: 1000 }]))
        .status,
    ).toBe(202);

    const { verdict, rollout } = await flock.deps.rollouts.evaluate(rolloutId);
    expect(rollout.status).toBe('running');
    expect(verdict?.verdict).not.toBe('fail');
    expect(verdict?.metrics.find((m) => m.metric === 'errorRate')?.outcome).not.toBe('fail');
  }, 60_000);

  it('answers drift and rollout reads for prototype-key feature names, and evaluates', async () => {
    const drift = await f('/v1/admin/models/digits/drift', { headers: admin });
    expect(drift.status).toBe(200);
    const report = (await drift.json()) as { versions: { version: number; psi: Record<string, number> }[] };
    expect(Object.keys(report.versions[0]?.psi ?? {}).sort()).toEqual([...PROTO_NAMES].sort());
    const shown = await f(`/v1/admin/rollouts/${rolloutId}`, { headers: admin });
    expect(shown.status).toBe(200);
    const { verdict } = await flock.deps.rollouts.evaluate(rolloutId);
    expect(verdict?.metrics.find((m) => m.metric === 'drift')?.outcome).not.toBe('insufficient');
    expect((await f('/v1/admin/rollouts', { headers: admin })).status).toBe(200);
  }, 60_000);

  it('refuses telemetry over the per-device quota with 429 and Retry-After', async () => {
    const d = devices[39];
    const batch = Array.from({ length: 15 }, () => ({ type: 'feedback', correct: 1, incorrect: 0 }));
    expect((await postTelemetry(d, 1, batch)).status).toBe(202);
    expect((await postTelemetry(d, 1, batch)).status).toBe(202);
    const over = await postTelemetry(d, 1, batch);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    // Another device is not affected; bytes count too.
    expect((await postTelemetry(devices[38], 1, batch)).status).toBe(202);
    const big = await postTelemetry(devices[37], 1, [
      {
        type: 'predictions',
        counts: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`label-${i}-${'x'.repeat(60)}`, 1])),
      },
    ]);
    expect(big.status).toBe(429);
  });

  it('deletes telemetry older than the retention on a sweep', async () => {
    const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
    await flock.deps.store.appendTelemetry([
      {
        deviceId: 'dev_old',
        app: 'digits',
        version: 1,
        kind: 'feedback',
        payload: { correct: 1, incorrect: 0 },
        at: old,
      },
    ]);
    const before = await flock.deps.store.listTelemetry({ app: 'digits', limit: 1000 });
    expect(before.length).toBeLessThan(1000); // one page holds every row, so the counts below are whole
    expect(before.some((e) => e.deviceId === 'dev_old')).toBe(true);
    expect(await flock.deps.rollouts.sweepTelemetry()).toBe(1);
    const after = await flock.deps.store.listTelemetry({ app: 'digits', limit: 1000 });
    expect(after.some((e) => e.deviceId === 'dev_old')).toBe(false);
    expect(after.length).toBe(before.length - 1);
  });
});
