/**
 * Rollouts end to end through `app.request` on a real SQLite data directory:
 * cohort sizes and stickiness across a restart, automatic rollback on worse
 * labelled accuracy (seen by an SSE client), promotion through every stage,
 * and a halt on an injected sample-ratio mismatch.
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
let files: Map<string, Uint8Array>;

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
};

async function manifestOf(d: FleetDevice): Promise<SignedManifest> {
  const res = await f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${d.token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as SignedManifest;
}

async function sendTelemetry(d: FleetDevice, version: number, events: Record<string, unknown>[]) {
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
const loaded = (version: number, generation: number) => ({
  type: 'model-loaded',
  version,
  generation,
  encoding: 'int8',
  backend: 'wasm',
  fromCache: false,
});
const feedback = (correct: number, incorrect: number) => ({ type: 'feedback', correct, incorrect });

async function startRollout(candidateVersion: number) {
  return adminAnswer(
    fleetAdmin(f, adminKey).v1.admin.rollouts.$post({
      json: {
        app: 'digits',
        candidateVersion,
        minStageSeconds: 0,
        minSamples: 3,
        metrics: { accuracy: { minSamples: 50, minDevices: 3 } },
      },
    }),
  );
}

/** Every device fetches its manifest, reports loading it, then labelled outcomes from `accuracyOf(cohort)`. */
async function fleetRound(
  accuracyOf: (cohort: string | undefined, version: number) => number,
  loadedVersion?: (d: FleetDevice, served: number) => number,
) {
  const cohorts = new Map<string, string | undefined>();
  for (const d of devices) {
    const m = (await manifestOf(d)).manifest;
    cohorts.set(d.deviceId, m.rollout?.cohort);
    const version = loadedVersion ? loadedVersion(d, m.version) : m.version;
    const correct = Math.round(100 * accuracyOf(m.rollout?.cohort, version));
    await sendTelemetry(d, version, [loaded(version, m.generation), feedback(correct, 100 - correct)]);
  }
  return cohorts;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-rollouts-'));
  await open();
  files = await mnistModelFiles('mlp-small');
  expect((await pushModel(f, adminKey, 'digits', files, 'production')).status).toBe(201);
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201);
  devices = [];
  for (let i = 0; i < 200; i++) devices.push(await registerDevice(f, 'digits'));
}, 120_000);
afterAll(async () => {
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function readSseUntil(
  body: ReadableStream<Uint8Array>,
  done: (events: { event: string; data: Record<string, unknown> }[]) => boolean,
) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const events: { event: string; data: Record<string, unknown> }[] = [];
  let buffer = '';
  while (!done(events)) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(block)?.[1];
      events.push({ event, data: data ? (JSON.parse(data) as Record<string, unknown>) : {} });
    }
  }
  await reader.cancel();
  return events;
}

describe('rollouts', () => {
  let canaryIds: string[] = [];
  let rolloutId = '';
  let canaryGeneration = 0;

  it('serves ~5% of devices the canary manifest, signed, and exactly the same ones after a restart', async () => {
    const r = await startRollout(2);
    rolloutId = r.id;
    // Both generations are null only before a rollout starts: NaN fails the comparison.
    canaryGeneration = r.canaryGeneration ?? Number.NaN;
    expect(canaryGeneration).toBeGreaterThan(r.controlGeneration ?? Number.NaN);
    const keyRes = await f('/v1/keys/manifest');
    const { publicKey } = (await keyRes.json()) as { publicKey: string };
    const before: string[] = [];
    for (const d of devices) {
      const signed = await manifestOf(d);
      expect((await verifyManifest(signed, publicKey, { app: 'digits' })).generation).toBe(signed.manifest.generation);
      expect(signed.manifest.rollout?.id).toBe(rolloutId);
      if (signed.manifest.rollout?.cohort === 'canary') {
        expect(signed.manifest.version).toBe(2);
        before.push(d.deviceId);
      } else {
        expect(signed.manifest.version).toBe(1);
      }
    }
    // Binomial(200, 0.05): mean 10, sd 3.1; [2, 22] holds with probability > 0.9999.
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(before.length).toBeLessThanOrEqual(22);
    await flock.close();
    await open();
    const after = [];
    for (const d of devices) if ((await manifestOf(d)).manifest.rollout?.cohort === 'canary') after.push(d.deviceId);
    expect(after).toEqual(before);
    canaryIds = before;
  }, 60_000);

  it('rolls back a canary that is clearly worse on labelled feedback, and an SSE client hears of it', async () => {
    const canary = devices.find((d) => d.deviceId === canaryIds[0])!;
    const sse = await f('/v1/apps/digits/events', { headers: { authorization: `Bearer ${canary.token}` } });
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    const heard = readSseUntil(sse.body!, (evs) => evs.filter((e) => e.event === 'manifest').length >= 2);

    await fleetRound((cohort) => (cohort === 'canary' ? 0.6 : 0.9));
    const { verdict, action, rollout } = await flock.deps.rollouts.evaluate(rolloutId);
    expect(verdict?.verdict).toBe('fail');
    expect(action.kind).toBe('rollback');
    expect(rollout.status).toBe('rolled_back');
    for (const id of canaryIds) {
      const m = (await manifestOf(devices.find((d) => d.deviceId === id)!)).manifest;
      expect(m.version).toBe(1);
      expect(m.generation).toBeGreaterThan(canaryGeneration);
      expect(m.rollout).toBeUndefined();
    }
    const manifests = (await heard).filter((e) => e.event === 'manifest');
    expect(manifests[0].data).toMatchObject({ version: 2, cohort: 'canary', generation: canaryGeneration });
    expect(manifests[1].data).toMatchObject({ version: 1, cohort: null });
    expect(manifests[1].data.generation).toBeGreaterThan(canaryGeneration);

    const shown = await adminAnswer(
      fleetAdmin(f, adminKey).v1.admin.rollouts[':id'].$get({ param: { id: rolloutId } }),
    );
    expect(shown.status).toBe('rolled_back');
    expect(shown.lastVerdict?.metrics.find((m) => m.metric === 'accuracy')?.outcome).toBe('fail');
    const actions = (await flock.deps.store.listAudit({ target: rolloutId })).map((e) => e.action);
    expect(actions).toEqual(['rollout.rollback', 'rollout.start']);
  }, 60_000);

  it('promotes a candidate that is as good through every stage to production', async () => {
    expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201); // v3
    const r = await startRollout(3);
    const seen: number[] = [];
    for (let step = 0; step < 5; step++) {
      const cohorts = await fleetRound(() => 0.9);
      seen.push([...cohorts.values()].filter((c) => c === 'canary').length);
      const { rollout, action } = await flock.deps.rollouts.evaluate(r.id);
      expect(['advance', 'promote']).toContain(action.kind);
      if (rollout.status === 'completed') break;
    }
    expect(seen).toHaveLength(3);
    expect(seen[0]).toBeLessThan(seen[1]);
    expect(seen[1]).toBeLessThan(seen[2]);
    expect(seen[2]).toBeGreaterThan(70);
    expect(seen[2]).toBeLessThan(130);
    expect((await flock.deps.store.getModelVersion('digits', 3))?.stage).toBe('production');
    for (const d of devices.slice(0, 20)) expect((await manifestOf(d)).manifest.version).toBe(3);
    const actions = (await flock.deps.store.listAudit({ target: r.id })).map((e) => e.action);
    expect(actions).toEqual(['rollout.promote', 'rollout.advance', 'rollout.advance', 'rollout.start']);
  }, 120_000);

  it('halts on an injected sample-ratio mismatch and keeps serving the cohorts', async () => {
    expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201); // v4
    const r = await startRollout(4);
    // A caching proxy hands the canary build to half the control devices too.
    await fleetRound(
      () => 0.9,
      (d, served) => (Number.parseInt(d.deviceId.slice(-2), 36) % 2 === 0 ? 4 : served),
    );
    const { verdict, action, rollout } = await flock.deps.rollouts.evaluate(r.id);
    expect(verdict?.verdict).toBe('srm');
    expect(verdict?.srm?.pValue).toBeLessThan(0.001);
    expect(action.kind).toBe('halt');
    expect(rollout.status).toBe('halted');
    expect((await flock.deps.rollouts.evaluate(r.id)).rollout.status).toBe('halted');
    const aborted = await adminAnswer(
      fleetAdmin(f, adminKey).v1.admin.rollouts[':id'].abort.$post({
        param: { id: r.id },
        json: { reason: 'test over' },
      }),
    );
    expect(aborted.status).toBe('aborted');
    expect((await manifestOf(devices[0])).manifest.version).toBe(3);
  }, 60_000);
});
