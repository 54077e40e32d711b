/**
 * The transition hammer on PostgreSQL: two `flock serve` processes share one
 * database, 80 devices poll their manifest through both in turn (a load
 * balancer), and both processes' evaluation timers race to apply the same
 * decisions. Three rollouts: one advances and is promoted by the timers, one
 * is rolled back by them, one is aborted by an operator on the other
 * process. Every answer must be what the device's cohort gets in some state,
 * in order (transition-hammer.fixture.ts), and each decision must be applied
 * once: one advance, one promotion, one rollback in the audit trail, however
 * the two timers interleave.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAdminKey } from '../../cli/admin-key.ts';
import { startCoordinatorProcess, type CoordinatorProcess } from '../../test/pg/coordinator-processes.ts';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../../test/pg/test-database.ts';
import { hashSecret, newId, newSecret } from '../auth/secrets.ts';
import { httpFetcher, mnistModelFiles, pushModel } from '../routes/fleet.fixture.ts';
import { openPostgresStore, type Rollout, type Store } from '../store/index.ts';
import {
  contradictedDevices,
  contradictions,
  expectedFor,
  pollManifests,
  reportTelemetry,
  statesOfRollout,
  waitFor,
  type PollingDevice,
  type PollingFleet,
  type ServingState,
} from './transition-hammer.fixture.ts';

const skip = skipWithoutPostgres('rollout transition hammer on two processes');
const DEVICES = 80;
const adminKey = generateAdminKey();
const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };

type Everyone = Extract<ServingState, { kind: 'everyone' }>;

describe.skipIf(skip)('rollout transitions under 80 devices polling two processes on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  let store: Store;
  const devices: PollingDevice[] = [];
  const accuracy = new Map<number, number>();

  beforeAll(async () => {
    db = await createTestDatabase('hammer');
    [a, b] = await Promise.all([
      startCoordinatorProcess({ databaseUrl: db.url, adminKey }),
      startCoordinatorProcess({ databaseUrl: db.url, adminKey }),
    ]);
    store = await openPostgresStore({ connectionString: db.url, poolSize: 2 });
    const files = await mnistModelFiles('mlp-small');
    const fa = httpFetcher(a.base);
    expect((await pushModel(fa, adminKey, 'digits', files, 'production')).status).toBe(201);
    for (let v = 2; v <= 4; v++) expect((await pushModel(fa, adminKey, 'digits', files)).status).toBe(201);
    // Straight into the store: the fleet-wide limit of 60 registrations a minute per IP would stop 80 over HTTP.
    for (let i = 0; i < DEVICES; i++) {
      const deviceId = newId('dev');
      const token = newSecret('device', deviceId);
      await store.createDevice({
        deviceId,
        app: 'digits',
        tokenHash: hashSecret(token),
        platform: { runtime: 'node' },
      });
      devices.push({ deviceId, token });
    }
  }, 180_000);

  afterAll(async () => {
    await store?.close();
    for (const p of [a, b]) {
      if (!p) continue;
      p.child.kill('SIGTERM');
      await p.exited;
    }
    await db?.drop();
  });

  const everyone = async (): Promise<Everyone> => {
    const latest = (await store.latestManifest('digits'))!;
    return { kind: 'everyone', generation: latest.generation, version: latest.version };
  };
  const auditOf = (id: string) => store.listAudit({ target: id, limit: 1000 });
  const statesOf = async (before: Everyone, id: string) => statesOfRollout(before, id, await auditOf(id));

  function settled(fleet: PollingFleet, state: ServingState): Promise<void> {
    return waitFor(
      `all devices to be served ${JSON.stringify(state)}`,
      () =>
        devices.every((d) => {
          const last = fleet.served.get(d.deviceId)!.at(-1);
          const want = expectedFor(state, d.deviceId);
          return last?.generation === want.generation && last.cohort === want.cohort;
        }),
      60_000,
    );
  }

  async function startRollout(base: string, candidateVersion: number, minStageSeconds: number): Promise<Rollout> {
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

  /** The state a rollout ended in, once its audit trail says it ended (the timers decide when). */
  async function ended(before: Everyone, id: string): Promise<{ status: string; state: Everyone }> {
    let last: ServingState = before;
    await waitFor(
      `rollout ${id} to end`,
      async () => {
        const states = await statesOf(before, id);
        last = states.at(-1)!;
        return states.length > 1 && last.kind === 'everyone';
      },
      90_000,
    );
    return { status: (await store.getRollout(id))!.status, state: last as Everyone };
  }

  it('start, timer advances and promotion, timer rollback, operator abort: cohorts kept, each decision applied once', async () => {
    // At most ~7 requests a second per device: under the fleet-wide 600 a minute.
    const fleet = pollManifests({
      bases: [a.base, b.base],
      app: 'digits',
      devices,
      pauseMs: 100,
      report: (d, served, base) => reportTelemetry(base, 'digits', d, served, accuracy.get(served.version) ?? 0.9),
    });
    // Telemetry every second or so, as clients send it: the timers judge each stage on what arrives after it began.
    let reporting = true;
    const reports = (async () => {
      while (reporting) {
        await fleet.reportAll(60_000);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
    let states: ServingState[] = [];
    try {
      const first = await everyone();
      await settled(fleet, first);

      const r2 = await startRollout(a.base, 2, 0);
      const { status: promotion, state: promoted } = await ended(first, r2.id);
      expect(promotion).toBe('completed');
      await settled(fleet, promoted);
      const audit2 = (await auditOf(r2.id)).reverse();
      expect(
        audit2.map((e) => e.action),
        JSON.stringify(audit2),
      ).toEqual(['rollout.start', 'rollout.advance', 'rollout.promote']);

      accuracy.set(3, 0.3);
      const r3 = await startRollout(b.base, 3, 0);
      const { status: rollback, state: rolledBack } = await ended(promoted, r3.id);
      expect(rollback).toBe('rolled_back');
      await settled(fleet, rolledBack);
      expect((await auditOf(r3.id)).map((e) => e.action).reverse()).toEqual(['rollout.start', 'rollout.rollback']);

      const r4 = await startRollout(a.base, 4, 3600);
      await settled(fleet, (await statesOf(rolledBack, r4.id)).at(-1)!);
      const aborted = await fetch(`${b.base}/v1/admin/rollouts/${r4.id}/abort`, {
        method: 'POST',
        headers: admin,
        body: '{}',
      });
      expect(aborted.status).toBe(200);
      await settled(fleet, (await statesOf(rolledBack, r4.id)).at(-1)!);

      states = [
        ...(await statesOf(first, r2.id)),
        ...(await statesOf(promoted, r3.id)),
        ...(await statesOf(rolledBack, r4.id)),
      ];
      expect(states.map((s) => (s.kind === 'cohorts' ? `${s.percent}%` : `v${s.version}`))).toEqual([
        'v1',
        '20%',
        '50%',
        'v2',
        'v2',
        '20%',
        'v2',
        'v2',
        '20%',
        'v2',
      ]);
    } finally {
      reporting = false;
      await fleet.stop();
      await reports.catch(() => undefined);
    }
    const found = contradictions(fleet.served, states);
    const bad = contradictedDevices(found);
    console.info(
      `${bad.length} of ${DEVICES} devices saw a contradicting manifest (${found.length} of ${fleet.polls()} answers, both processes); first: ${JSON.stringify(found.slice(0, 3))}`,
    );
    expect(bad).toEqual([]);
    expect(fleet.failures).toEqual([]);
    // Both processes served the fleet.
    expect(fleet.polls()).toBeGreaterThan(DEVICES * 10);
  }, 300_000);
});
