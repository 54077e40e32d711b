/**
 * Rollout transitions under load, on a real coordinator (SQLite) listening
 * on loopback: 80 devices poll their manifest back to back while a rollout
 * starts, advances and is promoted, and while two more start and end by
 * rollback and by abort. No device may ever be served a manifest its cohort
 * does not get in some state of the rollout (the stable cohort hash decides
 * control or canary), nor go back to an older generation: a transition is
 * seen whole or not at all. Before transitions were atomic, a poll between
 * the canary manifest's publication and the rollout row's update got the
 * canary manifest as "the app's latest", control devices included.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import {
  httpFetcher,
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
  type FleetDevice,
} from '../routes/fleet.fixture.ts';
import type { Rollout } from '../store/index.ts';
import {
  contradictedDevices,
  contradictions,
  expectedFor,
  pollManifests,
  reportTelemetry,
  statesOfRollout,
  waitFor,
  type PollingFleet,
  type ServingState,
} from './transition-hammer.fixture.ts';

const DEVICES = 80;
const adminKey = testAdminKey();
const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
let dataDir: string;
let flock: Coordinator;
let server: ServerType;
let base: string;
let devices: FleetDevice[];
/** Labelled accuracy each version's devices report. */
const accuracy = new Map<number, number>();

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-hammer-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    rateLimits: {
      registerPerIp: { limit: 10_000, windowMs: 60_000 },
      perDevice: { limit: 1_000_000, windowMs: 60_000 },
    },
    telemetryQuota: { bytes: 64 * 1024 * 1024, rows: 1_000_000, windowMs: 60_000 },
  });
  // This test evaluates when it wants to; the 5 s timer would race it to the same decisions.
  await flock.deps.rollouts.stop();
  server = serve({ fetch: flock.app.fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const f = httpFetcher(base);
  const files = await mnistModelFiles('mlp-small');
  expect((await pushModel(f, adminKey, 'digits', files, 'production')).status).toBe(201);
  for (let v = 2; v <= 4; v++) expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201);
  devices = [];
  for (let i = 0; i < DEVICES; i++) devices.push(await registerDevice(f, 'digits'));
}, 120_000);

afterAll(async () => {
  server?.close();
  if (server && 'closeAllConnections' in server) server.closeAllConnections();
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function startFleet(): PollingFleet {
  return pollManifests({
    bases: [base],
    app: 'digits',
    devices,
    pauseMs: 3,
    report: (d, served) => reportTelemetry(base, 'digits', d, served, accuracy.get(served.version) ?? 0.9),
  });
}

async function everyone(): Promise<ServingState & { kind: 'everyone' }> {
  const latest = (await flock.deps.store.latestManifest('digits'))!;
  return { kind: 'everyone', generation: latest.generation, version: latest.version };
}

async function statesOf(before: ServingState & { kind: 'everyone' }, id: string): Promise<ServingState[]> {
  return statesOfRollout(before, id, await flock.deps.store.listAudit({ target: id, limit: 1000 }));
}

/** Until every device was served what `state` gives it. */
function settled(fleet: PollingFleet, state: ServingState): Promise<void> {
  return waitFor(
    `all ${DEVICES} devices to be served ${JSON.stringify(state)}`,
    () =>
      devices.every((d) => {
        const last = fleet.served.get(d.deviceId)!.at(-1);
        const want = expectedFor(state, d.deviceId);
        return last?.generation === want.generation && last.cohort === want.cohort;
      }),
    60_000,
  );
}

async function startRollout(candidateVersion: number, minStageSeconds = 0): Promise<Rollout> {
  const res = await fetch(`${base}/v1/admin/rollouts`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({
      app: 'digits',
      candidateVersion,
      stages: [20, 50, 100],
      minStageSeconds,
      minSamples: 3,
      metrics: { accuracy: { minSamples: 50, minDevices: 3, threshold: 0.1 } },
    }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as Rollout;
}

/**
 * Every device reports what it runs, then the rollout is evaluated on that
 * evidence; again (up to 5 times) while it only waits, as the timer would.
 * Returns the first other action, or the waits' reasons.
 */
async function evaluate(fleet: PollingFleet, id: string): Promise<string> {
  const waits: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    await fleet.reportAll();
    const { action } = await flock.deps.rollouts.evaluate(id);
    if (action.kind !== 'wait') return action.kind;
    waits.push(action.reason);
  }
  return `wait: ${waits.join(' | ')}`;
}

/** The last state, once all devices are on it; then the fleet polls a little longer. */
async function settle(
  fleet: PollingFleet,
  before: ServingState & { kind: 'everyone' },
  id: string,
): Promise<ServingState> {
  const state = (await statesOf(before, id)).at(-1)!;
  await settled(fleet, state);
  return state;
}

function verdictOf(fleet: PollingFleet, states: ServingState[]) {
  const found = contradictions(fleet.served, states);
  const bad = contradictedDevices(found);
  console.info(
    `${bad.length} of ${DEVICES} devices saw a contradicting manifest (${found.length} of ${fleet.polls()} answers); first: ${JSON.stringify(found.slice(0, 3))}`,
  );
  return { found, bad };
}

describe('rollout transitions under 80 polling devices (SQLite on loopback)', () => {
  it('start, advance and promote: every device sees its cohort, generations only go up', async () => {
    const fleet = startFleet();
    let states: ServingState[] = [];
    try {
      const before = await everyone();
      await settled(fleet, before);
      const r = await startRollout(2);
      const atStart = await settle(fleet, before, r.id);
      expect(await evaluate(fleet, r.id)).toBe('advance');
      const advanced = await settle(fleet, before, r.id);
      expect(await evaluate(fleet, r.id)).toBe('promote');
      await settle(fleet, before, r.id);
      states = await statesOf(before, r.id);
      expect(states.map((s) => (s.kind === 'cohorts' ? s.percent : s.version))).toEqual([1, 20, 50, 2]);
      // Both cohorts were populated in both stages, so a cohort mix-up had somewhere to show.
      for (const s of [atStart, advanced]) {
        const cohorts = devices.map((d) => expectedFor(s, d.deviceId).cohort);
        expect(cohorts.filter((c) => c === 'canary').length).toBeGreaterThan(2);
        expect(cohorts.filter((c) => c === 'control').length).toBeGreaterThan(2);
      }
    } finally {
      await fleet.stop();
    }
    expect(verdictOf(fleet, states).bad).toEqual([]);
    expect(fleet.failures).toEqual([]);
  }, 240_000);

  it('rollback after an advance, then a new rollout aborted: nobody sees the candidate out of turn', async () => {
    const fleet = startFleet();
    let states: ServingState[] = [];
    try {
      const first = await everyone();
      await settled(fleet, first);
      const r3 = await startRollout(3);
      await settle(fleet, first, r3.id);
      expect(await evaluate(fleet, r3.id)).toBe('advance');
      await settle(fleet, first, r3.id);
      accuracy.set(3, 0.3);
      expect(await evaluate(fleet, r3.id)).toBe('rollback');
      const rolledBack = await settle(fleet, first, r3.id);
      expect(rolledBack).toMatchObject({ kind: 'everyone', version: 2 });

      const r4 = await startRollout(4, 3600);
      await settle(fleet, rolledBack as ServingState & { kind: 'everyone' }, r4.id);
      const aborted = await fetch(`${base}/v1/admin/rollouts/${r4.id}/abort`, {
        method: 'POST',
        headers: admin,
        body: '{}',
      });
      expect(aborted.status).toBe(200);
      await settle(fleet, rolledBack as ServingState & { kind: 'everyone' }, r4.id);
      states = [
        ...(await statesOf(first, r3.id)),
        ...(await statesOf(rolledBack as ServingState & { kind: 'everyone' }, r4.id)),
      ];
      expect(
        states.map((s) =>
          s.kind === 'cohorts' ? `${s.rolloutId === r3.id ? 'r3' : 'r4'}@${s.percent}` : `v${s.version}`,
        ),
      ).toEqual(['v2', 'r3@20', 'r3@50', 'v2', 'v2', 'r4@20', 'v2']);
    } finally {
      await fleet.stop();
    }
    expect(verdictOf(fleet, states).bad).toEqual([]);
    expect(fleet.failures).toEqual([]);
  }, 240_000);
});
