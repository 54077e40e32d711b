/**
 * Two rollout services on one store (two coordinator processes, in one test
 * process) evaluate the same rollout at once, on the same evidence: both
 * decide to advance, exactly one advance is applied (one audit entry, one new
 * canary generation), and the other is told the rollout changed while it was
 * evaluated instead of failing or advancing a second stage. Without the stage
 * guard both applied theirs: 20% -> 50% twice, two canary generations.
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
} from '../routes/fleet.fixture.ts';
import { RolloutService } from './service.ts';

const adminKey = testAdminKey();
let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let devices: FleetDevice[];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-guard-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    rateLimits: { registerPerIp: { limit: 10_000, windowMs: 60_000 }, perDevice: { limit: 10_000, windowMs: 60_000 } },
  });
  await flock.deps.rollouts.stop();
  f = async (path, init) => flock.app.request(path, init);
  const files = await mnistModelFiles('mlp-small');
  expect((await pushModel(f, adminKey, 'digits', files, 'production')).status).toBe(201);
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201);
  devices = [];
  for (let i = 0; i < 60; i++) devices.push(await registerDevice(f, 'digits'));
}, 120_000);

afterAll(async () => {
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('two services evaluating one rollout at once', () => {
  it('apply the advance once; the other is told the rollout moved', async () => {
    const start = await f('/v1/admin/rollouts', {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        app: 'digits',
        candidateVersion: 2,
        stages: [20, 50, 100],
        minStageSeconds: 0,
        minSamples: 3,
        metrics: { accuracy: { minSamples: 50, minDevices: 3, threshold: 0.1 } },
      }),
    });
    expect(start.status).toBe(201);
    const { id } = (await start.json()) as { id: string };
    for (const d of devices) {
      const m = (
        (await (
          await f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${d.token}` } })
        ).json()) as SignedManifest
      ).manifest;
      const at = new Date().toISOString();
      const res = await f('/v1/telemetry', {
        method: 'POST',
        headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          deviceId: d.deviceId,
          app: 'digits',
          modelVersion: m.version,
          events: [
            {
              at,
              type: 'model-loaded',
              version: m.version,
              generation: m.generation,
              encoding: 'int8',
              backend: 'wasm',
              fromCache: false,
            },
            { at, type: 'feedback', correct: 90, incorrect: 10 },
          ],
        }),
      });
      expect(res.status).toBe(202);
    }
    const other = new RolloutService({
      store: flock.deps.store,
      signing: flock.deps.signing,
      log: flock.deps.log,
      events: flock.deps.rollouts.events,
    });
    const results = await Promise.all([flock.deps.rollouts.evaluate(id), other.evaluate(id)]);
    expect(results.map((r) => r.verdict?.verdict)).toEqual(['pass', 'pass']);
    const kinds = results.map((r) => r.action.kind).sort();
    expect(kinds).toEqual(['advance', 'wait']);
    const lost = results.find((r) => r.action.kind === 'wait')!;
    expect(lost.action.kind === 'wait' && lost.action.reason).toMatch(
      /changed while it was evaluated \(now running at stage 2\)/,
    );
    expect(lost.rollout.stageIndex).toBe(1);
    const audit = await flock.deps.store.listAudit({ target: id });
    expect(audit.map((e) => e.action)).toEqual(['rollout.advance', 'rollout.start']);
    const rollout = (await flock.deps.store.getRollout(id))!;
    expect(rollout.stageIndex).toBe(1);
    expect(rollout.canaryGeneration).toBe((await flock.deps.store.latestManifest('digits'))!.generation);
  }, 60_000);
});
