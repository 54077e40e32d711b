/**
 * Closing a round from flushed partial sums: two RoundServices on one store
 * (two processes on one PostgreSQL, each with its own LISTEN/NOTIFY signals;
 * and two services on one SQLite with in-process signals). Uploads with known
 * contents are split across both; one closes. The new version must equal the
 * exact example-weighted mean (tolerance 1e-5: float32 sums in another order),
 * whether the other process flushes its partial, is dead (stale heartbeat) or
 * does not answer in time; the round metrics say where updates came from.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensors } from '../../shared/codec/index.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../../test/pg/test-database.ts';
import { ensureSigningKey } from '../auth/bootstrap.ts';
import { createCoordinator } from '../coordinator.ts';
import { createMetrics } from '../observability/metrics.ts';
import {
  createTask,
  deltaTensors,
  encodeUpdate,
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
  updateMeta,
  type FleetDevice,
} from '../routes/fleet.fixture.ts';
import { openPostgresStore, openSqliteStore, type Store } from '../store/index.ts';
import { choosePartials, decodePartialSum, encodePartialSum } from './partial-flush.ts';
import { openPostgresRoundSignals } from './postgres-round-signals.ts';
import { inProcessRoundSignals, type RoundSignals } from './round-signals.ts';
import { RoundService } from './service.ts';

/** One signing key for every coordinator and service in this file, as processes sharing a store would have. */
const keyFile = join(tmpdir(), `flock-partials-signing-${process.pid}.json`);
afterAll(() => rm(keyFile, { force: true }));

const log = pino({ level: process.env.FLOCK_TEST_LOG ?? 'silent' });
const adminKey = testAdminKey();
// Skewed on purpose (100 of 250 is 2.4 equal shares), so the plans allow maxDeviceWeightFactor 3 and the exact FedAvg mean holds.
const EXAMPLES = [10, 40, 25, 100, 5, 70];

interface Fleet {
  specs: WeightSpec[];
  globals: Float32Array[];
  taskIds: string[];
  devices: FleetDevice[];
}

/** Pushes a model, creates `tasks` tasks (no quorum close: goal 8 > 6 uploads) and registers six devices, through the admin API. */
async function seedFleet(store: Store, tasks: number): Promise<Fleet> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-partials-'));
  const flock = await createCoordinator({ dataDir, store, adminKey, log, sweep: false, signingKeyFile: keyFile });
  try {
    const f = async (path: string, init?: RequestInit) => flock.app.request(path, init);
    expect((await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small', 3), 'production')).status).toBe(
      201,
    );
    const taskIds: string[] = [];
    for (let i = 0; i < tasks; i++) {
      const res = await createTask(f, adminKey, 'digits', 1, {
        population: 100,
        clientsPerRound: 8,
        minReports: 1,
        overSelection: 1,
        roundDeadlineSeconds: 3600,
        clipNorm: 1,
        maxDeviceWeightFactor: 3,
      });
      expect(res.status).toBe(201);
      taskIds.push(((await res.json()) as { id: string }).id);
    }
    const devices: FleetDevice[] = [];
    for (let i = 0; i < EXAMPLES.length; i++) devices.push(await registerDevice(f, 'digits'));
    const version = (await store.getModelVersion('digits', 1))!;
    const bytes = (await store.blobs.get(version.variants.find((v) => v.encoding === 'fp32')!.sha256))!;
    return { specs: version.weightSpecs, globals: decodeTensors(bytes).map((t) => t.data), taskIds, devices };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function service(
  store: Store,
  processId: string,
  signals: RoundSignals,
  flushWaitMs = 3000,
): Promise<RoundService> {
  const rounds = new RoundService({
    store,
    log,
    metrics: createMetrics({ defaultMetrics: false }),
    signing: await ensureSigningKey(store, keyFile),
    sweepIntervalMs: 60_000,
    processId,
    signals,
    flushWaitMs,
  });
  await rounds.start(); // heartbeats: this process is live
  return rounds;
}

const deltas = (specs: WeightSpec[]) =>
  EXAMPLES.map((_, k) => deltaTensors(specs, (t, i) => 5e-4 * (((i * 7 + t * 5 + k * 3) % 11) - 5)));

/**
 * Checks in all six devices, uploads 0-2 through `a` and 3-5 through `b`,
 * closes from `a`; returns the round's metrics and the largest error of the
 * new version against globals + exact FedAvg mean.
 */
async function roundAcross(
  fleet: Fleet,
  store: Store,
  taskId: string,
  a: RoundService,
  b: RoundService,
  beforeClose: () => Promise<void> = async () => undefined,
) {
  const ds = deltas(fleet.specs);
  let roundId = '';
  for (const d of fleet.devices) {
    const answer = await a.checkIn({ deviceId: d.deviceId, app: 'digits' }, taskId, { numExamples: 100 });
    expect(answer.status).toBe('selected');
    if (answer.status === 'selected') roundId = answer.roundId;
  }
  for (let k = 0; k < EXAMPLES.length; k++) {
    const d = fleet.devices[k];
    const receipt = await (k < 3 ? a : b).upload(
      { deviceId: d.deviceId, app: 'digits' },
      roundId,
      JSON.stringify(updateMeta(roundId, d.deviceId, { numExamples: EXAMPLES[k] })),
      encodeUpdate(ds[k]),
    );
    expect(receipt).toMatchObject({ accepted: true, duplicate: false });
  }
  await beforeClose();
  const closed = await a.closeRound(roundId, 'manual');
  expect(closed).toMatchObject({ status: 'closed', reportedCount: 6 });
  const version = (await store.getModelVersion('digits', closed!.resultVersion!))!;
  const after = decodeTensors((await store.blobs.get(version.variants.find((v) => v.encoding === 'fp32')!.sha256))!);
  const total = EXAMPLES.reduce((x, y) => x + y, 0);
  let worst = 0;
  let moved = 0;
  fleet.globals.forEach((g, t) => {
    for (let i = 0; i < g.length; i++) {
      let mean = 0;
      for (let k = 0; k < EXAMPLES.length; k++) mean += (EXAMPLES[k] / total) * ds[k][t].data[i];
      worst = Math.max(worst, Math.abs(after[t].data[i] - (g[i] + mean)));
      moved = Math.max(moved, Math.abs(after[t].data[i] - g[i]));
    }
  });
  expect(moved).toBeGreaterThan(1e-4);
  expect(await store.listRoundPartials(roundId)).toEqual([]); // cleaned up after the close
  return { worst, metrics: closed!.metrics, roundId };
}

describe('partial sum blobs and the choice of partials', () => {
  const specs: WeightSpec[] = [
    { name: 'w', shape: [2, 2] },
    { name: 'b', shape: [2] },
  ];
  const partial = (processId: string, deviceIds: string[], extra = {}) => ({
    roundId: 'r1',
    processId,
    deviceIds,
    count: deviceIds.length,
    totalWeight: deviceIds.length,
    boundedCount: 0,
    maxUpdateNorm: 1,
    normBound: 1,
    sumHash: 'a'.repeat(64),
    createdAt: '2030-01-01T00:00:00.000Z',
    ...extra,
  });

  it('round-trips a sum, and a blob of another round or process is refused', () => {
    const sum = [Float32Array.of(1, 2, 3, 4), Float32Array.of(-1, 0.5)];
    const bytes = encodePartialSum(specs, sum, 'r1', 'p1');
    expect(decodePartialSum(bytes, specs, 'r1', 'p1')).toEqual(sum);
    expect(() => decodePartialSum(bytes, specs, 'r1', 'p2')).toThrow(/not the partial sum/);
    expect(() =>
      decodePartialSum(
        encodeUpdate([
          { name: 'w', shape: [2, 2], data: sum[0] },
          { name: 'b', shape: [2], data: sum[1] },
        ]),
        specs,
        'r1',
        'p1',
      ),
    ).toThrow();
    // The marker makes two partials with equal sums different blobs (so deleting one never hits another).
    expect(encodePartialSum(specs, sum, 'r1', 'p2')).not.toEqual(bytes);
  });

  it('merges disjoint partials of stored devices and ignores overlapping, unknown or differently bounded ones whole', () => {
    const stored = new Set(['d0', 'd1', 'd2', 'd3', 'd4', 'd5']);
    const { merge, ignored } = choosePartials(
      [
        partial('p1', ['d1', 'd2']),
        partial('p2', []),
        partial('p3', ['d2', 'd3']), // d2 twice
        partial('p4', ['d4', 'dX']), // dX never stored
        partial('p5', ['d5'], { normBound: 2 }),
        partial('p6', ['d3']),
        partial('p7', ['d0']), // the closer's own
      ],
      stored,
      new Set(['d0']),
      1,
    );
    expect(merge.map((p) => p.processId)).toEqual(['p1', 'p6']);
    expect(ignored.map((i) => i.partial.processId)).toEqual(['p3', 'p4', 'p5', 'p7']);
    expect(ignored[0].reason).toMatch(/d2 is already covered/);
    expect(ignored[1].reason).toMatch(/dX has no stored update/);
  });
});

describe('two services on one SQLite store (in-process signals)', () => {
  let dir: string;
  let store: Store;
  let fleet: Fleet;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flock-partials-sqlite-'));
    store = await openSqliteStore({ dataDir: dir });
    fleet = await seedFleet(store, 1);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("merges the other service's flushed partial: nothing from storage, the exact mean", async () => {
    const signals = inProcessRoundSignals();
    const a = await service(store, 'sqlite-a', signals);
    const b = await service(store, 'sqlite-b', signals);
    const { worst, metrics } = await roundAcross(fleet, store, fleet.taskIds[0], a, b);
    expect(worst).toBeLessThan(1e-5);
    expect(metrics).toMatchObject({
      fromOwnFold: 3,
      fromPartials: 3,
      fromStorage: 0,
      partialsMerged: 1,
      partialsIgnored: 0,
    });
    await a.stop();
    await b.stop();
    expect(await store.listLiveProcesses('2000-01-01T00:00:00Z')).toEqual([]);
  }, 60_000);
});

describe.skipIf(skipWithoutPostgres('partial flush across processes'))(
  'two processes on one PostgreSQL (LISTEN/NOTIFY)',
  () => {
    let db: TestDatabase;
    let fleet: Fleet;
    const opened: Array<{ close(): Promise<void> }> = [];
    const stop: RoundService[] = [];
    const open = async (processId: string, flushWaitMs?: number) => {
      const store = await openPostgresStore({ connectionString: db.url, poolSize: 3 });
      const signals = await openPostgresRoundSignals({ connectionString: db.url });
      opened.push(signals, store);
      const rounds = await service(store, processId, signals, flushWaitMs);
      stop.push(rounds);
      return { store, signals, rounds };
    };

    beforeAll(async () => {
      db = await createTestDatabase('partials');
      const setup = await openPostgresStore({ connectionString: db.url, poolSize: 2 });
      try {
        fleet = await seedFleet(setup, 3);
      } finally {
        await setup.close();
      }
    }, 120_000);
    afterAll(async () => {
      for (const r of stop) await r.stop();
      for (const o of opened.reverse()) await o.close();
      await db?.drop();
    });

    it("sums the closer's fold and the other process's flushed partial: the exact mean, nothing from storage", async () => {
      const a = await open('pg-a');
      const b = await open('pg-b');
      const { worst, metrics } = await roundAcross(fleet, a.store, fleet.taskIds[0], a.rounds, b.rounds);
      expect(worst).toBeLessThan(1e-5);
      expect(metrics).toMatchObject({
        fromOwnFold: 3,
        fromPartials: 3,
        fromStorage: 0,
        partialsMerged: 1,
        partialsIgnored: 0,
      });
      // Well under the 3 s limit: the partial arrived by NOTIFY.
      expect(metrics.flushWaitMs as number).toBeLessThan(2500);
      await b.rounds.stop();
      await a.rounds.stop();
    }, 60_000);

    it("reads a dead process's updates from storage (stale heartbeat, never flushed): the same mean", async () => {
      const a = await open('pg-a2');
      const b = await open('pg-b2');
      const { worst, metrics } = await roundAcross(fleet, a.store, fleet.taskIds[1], a.rounds, b.rounds, async () => {
        // "kill -9" of b: its listener is gone and its heartbeat stops (made stale here).
        await b.signals.close();
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        await client.query(
          `update coordinator_processes set heartbeat_at = '2000-01-01T00:00:00.000Z' where id = 'pg-b2'`,
        );
        await client.end();
      });
      expect(worst).toBeLessThan(1e-5);
      expect(metrics).toMatchObject({ fromOwnFold: 3, fromPartials: 0, fromStorage: 3, partialsMerged: 0 });
      expect(metrics.flushWaitMs as number).toBeLessThan(1000); // nobody live to wait for
      await a.rounds.stop();
    }, 60_000);

    it('falls back to storage when a live process does not answer within flushWaitMs: the same mean', async () => {
      const a = await open('pg-a3', 400);
      const b = await open('pg-b3');
      const { worst, metrics } = await roundAcross(fleet, a.store, fleet.taskIds[2], a.rounds, b.rounds, async () => {
        await b.signals.close(); // alive (fresh heartbeat) but deaf
      });
      expect(worst).toBeLessThan(1e-5);
      expect(metrics).toMatchObject({ fromOwnFold: 3, fromPartials: 0, fromStorage: 3, partialsMerged: 0 });
      expect(metrics.flushWaitMs as number).toBeGreaterThanOrEqual(350);
      await a.rounds.stop();
    }, 60_000);
  },
);
