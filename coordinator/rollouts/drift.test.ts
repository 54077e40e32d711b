/**
 * Drift sample sizes through the real drift route on SQLite: one device's
 * one histogram is 'insufficient' (it was "pass"/"drift" from a single
 * observation before), and enough devices on both sides give 'drift' for a
 * shifted feature and 'pass' for an unshifted one, each with its counts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { mnistModelFiles, pushModel, registerDevice, testAdminKey, type Fetcher } from '../routes/fleet.fixture.ts';
import type { DriftReport } from './drift.ts';

const adminKey = testAdminKey();
let dataDir: string;
let flock: Coordinator;
let f: Fetcher;

const LOW = [10, 20, 10, 2, 0, 0, 0, 0];
const HIGH = [0, 0, 0, 2, 10, 20, 10, 2];

async function report(version: number, devices: number, counts: { shifted: number[]; steady: number[] }) {
  for (let i = 0; i < devices; i++) {
    const d = await registerDevice(f, 'digits');
    const features = [
      { name: 'shifted', mean: 0.5, variance: 0.01, histogram: { min: 0, max: 1, counts: counts.shifted } },
      { name: 'steady', mean: 0.5, variance: 0.01, histogram: { min: 0, max: 1, counts: counts.steady } },
    ];
    const events = [{ type: 'feature-summary', at: new Date().toISOString(), count: 44, features }];
    const res = await f('/v1/telemetry', {
      method: 'POST',
      headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: d.deviceId, app: 'digits', modelVersion: version, events }),
    });
    expect(res.status).toBe(202);
  }
}
const drift = async (): Promise<DriftReport> =>
  (await (
    await f('/v1/admin/models/digits/drift', { headers: { authorization: `Bearer ${adminKey}` } })
  ).json()) as DriftReport;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-drift-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    rateLimits: { registerPerIp: { limit: 10_000, windowMs: 60_000 }, perDevice: { limit: 10_000, windowMs: 60_000 } },
  });
  f = async (path, init) => flock.app.request(path, init);
  const files = await mnistModelFiles('mlp-small');
  for (const stage of ['production', undefined])
    expect((await pushModel(f, adminKey, 'digits', files, stage)).status).toBe(201);
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('drift sample sizes', () => {
  it('is insufficient from one device, however large its PSI', async () => {
    await report(1, 1, { shifted: LOW, steady: LOW });
    await report(2, 1, { shifted: HIGH, steady: LOW });
    const r = await drift();
    expect(r).toMatchObject({ referenceVersion: 1, minSamples: 100, minDevices: 5 });
    const v2 = r.versions.find((v) => v.version === 2);
    expect(v2?.drifted).toEqual(['shifted']);
    expect(v2?.status).toBe('insufficient');
    expect(v2?.samples).toEqual({
      reference: { observations: 42, devices: 1 },
      version: { observations: 42, devices: 1 },
    });
  });

  it('judges drift once both sides have enough devices and observations', async () => {
    await report(1, 5, { shifted: LOW, steady: LOW });
    await report(2, 5, { shifted: HIGH, steady: LOW });
    const v2 = (await drift()).versions.find((v) => v.version === 2);
    expect(v2?.samples).toEqual({
      reference: { observations: 252, devices: 6 },
      version: { observations: 252, devices: 6 },
    });
    expect(v2?.status).toBe('drift');
    expect(v2?.psi.steady).toBeLessThan(0.01);
  });
});
