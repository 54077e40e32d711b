/**
 * A round whose aggregation throws ends `failed` with the reason stored and
 * audited, instead of staying in 'closing' for every sweep to retry (and fail)
 * for good; the task goes on with a new round.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
} from '../routes/fleet.fixture.ts';

let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let specs: WeightSpec[];
const adminKey = testAdminKey();

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-failed-round-'));
  flock = await createCoordinator({ dataDir, adminKey, log: pino({ level: 'silent' }), sweep: false });
  f = async (path, init) => flock.app.request(path, init);
  expect((await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small'), 'production')).status).toBe(201);
  specs = (await flock.deps.store.getModelVersion('digits', 1))!.weightSpecs;
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a round whose aggregation fails', () => {
  it('ends failed with the reason, once, and the task starts the next round', async () => {
    const res = await createTask(f, adminKey, 'digits', 1, {
      population: 100,
      clientsPerRound: 2,
      minReports: 2,
      overSelection: 1,
      roundDeadlineSeconds: 600,
      clipNorm: 1,
    });
    expect(res.status).toBe(201);
    const taskId = ((await res.json()) as { id: string }).id;
    const devices = [await registerDevice(f, 'digits'), await registerDevice(f, 'digits')];
    const rounds = [];
    for (const d of devices) rounds.push((await checkIn(f, d, taskId)).body as CheckInSelected);
    const roundId = rounds[0].roundId;
    // The round's starting weights vanish from storage: closing cannot build the new version.
    const hash = rounds[0].globalWeights.hash;
    await rm(join(dataDir, 'blobs', hash.slice(0, 2), hash.slice(2)));
    for (const [k, d] of devices.entries()) {
      const bytes = encodeUpdate(deltaTensors(specs, (t, i) => 1e-4 * (((i + t + k) % 5) - 2)));
      expect(
        (await putUpdate(f, d.token, roundId, bytes, JSON.stringify(updateMeta(roundId, d.deviceId)))).status,
      ).toBe(200);
    }
    const closed = await flock.deps.rounds.closeRound(roundId, 'manual');
    expect(closed).toMatchObject({ status: 'failed' });
    const stored = (await flock.deps.store.getRound(roundId))!;
    expect(stored.status).toBe('failed');
    expect(stored.failureReason).toMatch(/aggregation failed: .*global weights blob .* is missing/);
    // Closing again (a sweep) finds it finished: no loop, no second version.
    await flock.deps.rounds.closeRound(roundId, 'deadline');
    expect((await flock.deps.store.getRound(roundId))!.status).toBe('failed');
    expect((await flock.deps.store.latestModelVersion('digits'))!.version).toBe(1);
    const audit = await flock.deps.store.listAudit({ action: 'round.failed' });
    expect(audit.map((a) => a.target)).toContain(roundId);
    // Not a plan problem, so the task is still active and opens the next round.
    expect((await flock.deps.store.getTask(taskId))!.status).toBe('active');
  });
});
