/**
 * Secure-aggregation rounds end to end: a real coordinator on loopback (real
 * SQLite file, real HTTP, a manual clock so phase deadlines pass at once), ten
 * devices driven by the protocol core (SecAggDevice + encodeDdg) over the
 * contract's routes.
 *
 * - noiseMultiplier 0: version N+1 = parent + mean of the survivors' clipped
 *   deltas, within the DDG's rounding bound, with 0, 10% and 30% of the
 *   devices dropping at advertise, share, mask and unmask;
 * - with device noise, the task is charged exactly the DDG accountant's epsilon;
 * - below minSurvivors the round fails with its reason and devices read `aborted`;
 * - hostile requests get their statuses and change nothing;
 * - after the round no stored row or blob holds a 64-byte window of any
 *   device's quantised input or masked vector.
 */
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensors } from '../../shared/codec/index.ts';
import { RdpAccountant } from '../../shared/dp/index.ts';
import { base64ToBytes } from '../../shared/manifest/index.ts';
import { type CheckInSelected, type TaskPlanInput, secAggRoutes } from '../../shared/protocol/index.ts';
import { ddgPrivacyEvent } from '../../shared/secagg/index.ts';
import { manualClock } from '../../coordinator/clock.ts';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import {
  checkIn,
  createTask,
  encodeUpdate,
  deltaTensors,
  type Fetcher,
  type FleetDevice,
  httpFetcher,
  mnistModelFiles,
  pushModel,
  putUpdate,
  registerDevice,
  testAdminKey,
  updateMeta,
} from '../../coordinator/routes/fleet.fixture.ts';
import { BLOB_DIR, SQLITE_FILE } from '../../coordinator/store/index.ts';
import {
  clipped,
  findWindows,
  getJson,
  PHASES,
  type Phase,
  postJson,
  prepareDevice,
  putMasked,
  type RoundDevice,
  runPhase,
} from './secure-aggregation-round.fixture.ts';

const N = 10;
const clock = manualClock(Date.parse('2026-06-01T00:00:00Z'));
let dataDir: string;
let flock: Coordinator;
let server: ReturnType<typeof serve>;
let f: Fetcher;
let fleet: FleetDevice[];
const adminKey = testAdminKey();
/** Every device vector a round sent: none may be found in storage afterwards. */
const sentVectors: Uint8Array[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-secagg-round-'));
  flock = await createCoordinator({ dataDir, adminKey, clock, log: pino({ level: 'silent' }), sweep: false });
  server = serve({ fetch: flock.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((ready, fail) => {
    server.once('listening', ready);
    server.once('error', fail);
  });
  f = httpFetcher(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  expect((await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small'), 'production')).status).toBe(201);
  expect((await pushModel(f, adminKey, 'big', await mnistModelFiles('2nn'), 'production')).status).toBe(201);
  fleet = [];
  for (let i = 0; i < N + 1; i++) fleet.push(await registerDevice(f, 'digits'));
}, 120_000);
afterAll(async () => {
  server?.close();
  await flock?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const plan = (secureAggregation: Record<string, unknown>, extra: Partial<TaskPlanInput> = {}): TaskPlanInput => ({
  population: 1000,
  clientsPerRound: N,
  overSelection: 1,
  minReports: 5,
  roundDeadlineSeconds: 600,
  clipNorm: 1,
  secureAggregation: { bits: 20, minSurvivors: 6, ...secureAggregation },
  ...extra,
});

async function newTask(app: string, p: TaskPlanInput): Promise<string> {
  const res = await createTask(f, adminKey, app, 1, p);
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** A deterministic update of device i: small everywhere, device 0's too long (clipped from norm 3 to 1). */
function updateOf(i: number, dimension: number): Float32Array {
  const u = new Float32Array(dimension);
  for (let j = 0; j < dimension; j++) u[j] = Math.sin(0.37 * j + 1.3 * i) * 0.002;
  let sq = 0;
  for (const v of u) sq += v * v;
  const norm = i === 0 ? 3 : 0.2 + 0.05 * i;
  for (let j = 0; j < dimension; j++) u[j] *= norm / Math.sqrt(sq);
  return u;
}

async function selectAll(taskId: string, devices: FleetDevice[]): Promise<RoundDevice[]> {
  const out: RoundDevice[] = [];
  for (const [i, d] of devices.entries()) {
    const answer = await checkIn(f, d, taskId);
    expect(answer.body.status).toBe('selected');
    const selected = answer.body as CheckInSelected;
    expect(selected.secureAggregation?.config.roundId).toBe(selected.roundId);
    out.push(await prepareDevice(d, selected, updateOf(i, selected.secureAggregation!.config.dimension)));
  }
  return out;
}

/** Moves the clock past the phase's deadline and sweeps, as the sweeper would. */
async function pastDeadline(d: RoundDevice, phase: Phase): Promise<void> {
  const by = { advertise: 'advertiseBy', share: 'shareBy', mask: 'maskBy', unmask: 'unmaskBy' } as const;
  const at = Date.parse(d.config.deadlines[by[phase]]);
  if (clock.now() <= at) clock.advance(at + 1 - clock.now());
  await flock.deps.rounds.sweep();
}

/** Runs a whole round, dropping `drops` devices (the last ones) at `dropAt`; returns who masked. */
async function runRound(devices: RoundDevice[], dropAt: Phase | null, drops: number): Promise<RoundDevice[]> {
  let alive = devices;
  for (const phase of PHASES) {
    if (phase === dropAt) alive = alive.slice(0, alive.length - drops);
    await runPhase(f, phase, alive);
    if (phase === dropAt && drops > 0) await pastDeadline(devices[0], phase);
  }
  for (const d of devices)
    if (d.masked) sentVectors.push(new Uint8Array(d.masked.buffer), new Uint8Array(d.quantised.buffer));
  await flock.deps.rounds.secureAggregation.whenIdle(devices[0].config.roundId);
  return devices.filter((d) => (d.masked !== null && alive.includes(d)) || (dropAt === 'unmask' && d.masked !== null));
}

async function fp32Weights(app: string, version: number): Promise<Float32Array> {
  const v = (await flock.deps.store.getModelVersion(app, version))!;
  const tensors = decodeTensors(
    (await flock.deps.store.blobs.get(v.variants.find((x) => x.encoding === 'fp32')!.sha256))!,
  );
  const total = tensors.reduce((n, t) => n + t.data.length, 0);
  const flat = new Float32Array(total);
  let at = 0;
  for (const t of tensors) {
    flat.set(t.data as Float32Array, at);
    at += t.data.length;
  }
  return flat;
}

/** ||version N+1 - (parent + mean of the survivors' clipped updates)||_2, and the bound the DDG rounding allows. */
async function meanError(app: string, survivors: RoundDevice[], resultVersion: number) {
  const parent = await fp32Weights(app, survivors[0].selected.globalVersion);
  const next = await fp32Weights(app, resultVersion);
  const { dimension, ddg } = survivors[0].config;
  const mean = new Float64Array(dimension);
  for (const d of survivors) {
    const c = clipped(d.update, ddg.clipNorm);
    for (let j = 0; j < dimension; j++) mean[j] += c[j] / survivors.length;
  }
  let err = 0;
  let meanNorm = 0;
  for (let j = 0; j < dimension; j++) {
    err += (next[j] - parent[j] - mean[j]) ** 2;
    meanNorm += mean[j] ** 2;
  }
  // Each device's rounding moves each rotated coordinate by < 1 grid step: ||mean error|| <= sqrt(d') * granularity.
  const bound = Math.sqrt(survivors[0].config.vectorLength) * ddg.granularity;
  return { error: Math.sqrt(err), bound, meanNorm: Math.sqrt(meanNorm) };
}

describe('a secure-aggregation round (noiseMultiplier 0)', () => {
  const cases: Array<[Phase | null, number]> = [[null, 0]];
  for (const phase of PHASES) for (const fraction of [0.1, 0.3]) cases.push([phase, Math.round(fraction * N)]);

  it.each(cases)(
    'publishes parent + mean of the survivors (drop at %s: %i devices)',
    async (dropAt, drops) => {
      const taskId = await newTask('digits', plan({}));
      const devices = await selectAll(taskId, fleet.slice(0, N));
      const roundId = devices[0].config.roundId;
      const survivors = await runRound(devices, dropAt, drops);
      const round = (await flock.deps.store.getRound(roundId))!;
      expect(round.failureReason).toBeNull();
      expect(round.status).toBe('closed');
      const expectedSurvivors = dropAt === 'advertise' || dropAt === 'share' || dropAt === 'mask' ? N - drops : N;
      expect(survivors.length).toBe(expectedSurvivors);
      const version = (await flock.deps.store.getModelVersion('digits', round.resultVersion!))!;
      expect(version).toMatchObject({ parentVersion: round.globalVersion, roundId, clients: expectedSurvivors });
      const { error, bound, meanNorm } = await meanError('digits', survivors, round.resultVersion!);
      expect(error).toBeLessThan(bound);
      expect(bound).toBeLessThan(meanNorm / 10); // the comparison can fail: the bound is far below the step itself
      const stats = await flock.deps.store.getSecAggRoundStats(roundId);
      expect(stats).toEqual({
        phase: 'done',
        selected: N,
        advertised: dropAt === 'advertise' ? N - drops : N,
        shared: dropAt === 'advertise' || dropAt === 'share' ? N - drops : N,
        masked: expectedSurvivors,
        unmasked: dropAt === 'unmask' ? N - drops : expectedSurvivors,
        abortReason: null,
        epsilonSpent: null,
      });
      expect(flock.deps.rounds.secureAggregation.get(roundId)).toBeNull();
      const rounds = await getJsonAdmin(`/v1/admin/tasks/${taskId}/rounds`);
      expect(rounds.rounds[0].secureAggregation).toEqual(stats);
    },
    120_000,
  );
});

async function getJsonAdmin(path: string): Promise<any> {
  const res = await f(path, { headers: { authorization: `Bearer ${adminKey}` } });
  expect(res.status).toBe(200);
  return res.json();
}

describe('distributed noise', () => {
  it('charges the task exactly the DDG accountant epsilon of the round that ran (q = 1)', async () => {
    const budget = { epsilon: 1000, delta: 1e-5 };
    const taskId = await newTask('digits', plan({ noiseMultiplier: 1 }, { privacyBudget: budget }));
    const devices = await selectAll(taskId, fleet.slice(0, N));
    await runRound(devices, null, 0);
    const round = (await flock.deps.store.getRound(devices[0].config.roundId))!;
    expect(round.status).toBe('closed');
    const expected = new RdpAccountant().compose(ddgPrivacyEvent(devices[0].plan)).getEpsilon(budget.delta);
    const task = (await flock.deps.store.getTask(taskId))!;
    expect(task.epsilonSpent).toBeCloseTo(expected, 9);
    expect(expected).toBeGreaterThan(0);
    expect((await flock.deps.store.getSecAggRoundStats(round.id))?.epsilonSpent).toBeCloseTo(expected, 9);
    const version = (await flock.deps.store.getModelVersion('digits', round.resultVersion!))!;
    expect(version.epsilon).toBeCloseTo(expected, 9);
    expect(version.noiseMultiplier).toBe(1);
  }, 120_000);
});

describe('abort below minSurvivors', () => {
  it('fails the round with its reason, records it, and every device reads aborted', async () => {
    const taskId = await newTask('digits', plan({}));
    const devices = await selectAll(taskId, fleet.slice(0, N));
    const roundId = devices[0].config.roundId;
    await runPhase(f, 'advertise', devices);
    await runPhase(f, 'share', devices);
    await runPhase(f, 'mask', devices.slice(0, 5)); // 5 < minSurvivors 6
    await pastDeadline(devices[0], 'mask');
    const round = (await flock.deps.store.getRound(roundId))!;
    expect(round.status).toBe('failed');
    expect(round.failureReason).toMatch(
      /^secure aggregation aborted \(too_few_survivors\): only 5 of 10 selected devices sent masked inputs/,
    );
    expect(await flock.deps.store.getSecAggRoundStats(roundId)).toMatchObject({
      phase: 'aborted',
      masked: 5,
      abortReason: 'too_few_survivors',
    });
    for (const d of devices) {
      const answer = await getJson(f, d.fleet, secAggRoutes.unmask(roundId));
      expect(answer).toMatchObject({ status: 200, body: { status: 'aborted', reason: 'too_few_survivors' } });
    }
    const late = await postJson(
      f,
      devices[9].fleet,
      secAggRoutes.advertise(roundId),
      devices[9].device.advertisement(),
    );
    expect(((await late.json()) as { status: string }).status).toBe('aborted');
  }, 120_000);
});

describe('hostile requests', () => {
  it('answer 403 / 400 / 413 / 409 and change nothing', async () => {
    const taskId = await newTask('digits', plan({}));
    const devices = await selectAll(taskId, fleet.slice(0, N));
    const roundId = devices[0].config.roundId;
    const stats = async () =>
      flock.deps.store
        .getSecAggRoundStats(roundId)
        .then(() => flock.deps.rounds.secureAggregation.get(roundId)!.stats());
    const before = await stats();
    const [a, b] = devices;
    const outsider = fleet[N];
    const status = async (r: Promise<Response>) => (await r).status;
    // not selected
    expect(
      await status(
        postJson(f, outsider, secAggRoutes.advertise(roundId), {
          ...a.device.advertisement(),
          deviceId: outsider.deviceId,
        }),
      ),
    ).toBe(403);
    // another device's message, another round's message
    expect(await status(postJson(f, b.fleet, secAggRoutes.advertise(roundId), a.device.advertisement()))).toBe(400);
    expect(
      await status(
        postJson(f, a.fleet, secAggRoutes.advertise(roundId), { ...a.device.advertisement(), roundId: 'rnd_other.1' }),
      ),
    ).toBe(400);
    // malformed body
    expect(await status(postJson(f, a.fleet, secAggRoutes.advertise(roundId), { type: 'secagg.advertise-keys' }))).toBe(
      400,
    );
    // wrong phase: shares and a masked input while keys are advertised
    expect(
      await status(
        postJson(f, a.fleet, secAggRoutes.shares(roundId), {
          type: 'secagg.share-keys',
          roundId,
          deviceId: a.fleet.deviceId,
          ciphertexts: [],
        }),
      ),
    ).toBe(409);
    const header = {
      type: 'secagg.masked-input',
      roundId,
      deviceId: a.fleet.deviceId,
      vectorLength: a.config.vectorLength,
    };
    expect(await status(putMasked(f, a.fleet, roundId, header, new Uint8Array(a.config.vectorLength * 4)))).toBe(409);
    // a plain update to a secure-aggregation round
    const plain = encodeUpdate(
      deltaTensors((await flock.deps.store.getModelVersion('digits', 1))!.weightSpecs, () => 0),
    );
    expect(
      await status(putUpdate(f, a.fleet.token, roundId, plain, JSON.stringify(updateMeta(roundId, a.fleet.deviceId)))),
    ).toBe(409);
    expect(await stats()).toEqual(before);

    await runPhase(f, 'advertise', devices);
    await runPhase(f, 'share', devices);
    // oversize and short masked bodies, then a header naming the wrong length
    expect(await status(putMasked(f, a.fleet, roundId, header, new Uint8Array(a.config.vectorLength * 4 + 4)))).toBe(
      413,
    );
    expect(await status(putMasked(f, a.fleet, roundId, header, new Uint8Array(a.config.vectorLength * 4 - 4)))).toBe(
      400,
    );
    expect(await status(putMasked(f, a.fleet, roundId, { ...header, vectorLength: 8 }, new Uint8Array(32)))).toBe(400);
    expect(
      await status(putMasked(f, outsider, roundId, { ...header, deviceId: outsider.deviceId }, new Uint8Array(8))),
    ).toBe(403);
    expect(flock.deps.rounds.secureAggregation.get(roundId)!.stats().masked).toBe(0);
    // a second advertisement after the roster closed
    expect(await status(postJson(f, a.fleet, secAggRoutes.advertise(roundId), a.device.advertisement()))).toBe(409);
    const survivors = await (async () => {
      await runPhase(f, 'mask', devices);
      await runPhase(f, 'unmask', devices);
      await flock.deps.rounds.secureAggregation.whenIdle(roundId);
      return devices;
    })();
    for (const d of survivors) sentVectors.push(new Uint8Array(d.masked!.buffer), new Uint8Array(d.quantised.buffer));
    const round = (await flock.deps.store.getRound(roundId))!;
    expect(round.status).toBe('closed');
    const { error, bound } = await meanError('digits', survivors, round.resultVersion!);
    expect(error).toBeLessThan(bound);
    // after the round: 409 round_closed, 404 for an unknown round
    expect(await status(postJson(f, a.fleet, secAggRoutes.advertise(roundId), a.device.advertisement()))).toBe(409);
    expect((await getJson(f, a.fleet, secAggRoutes.status('rnd_nope.1'))).status).toBe(404);
    expect((await getJson(f, a.fleet, secAggRoutes.status(roundId))).body).toMatchObject({
      phase: 'done',
      unmasked: N,
    });
  }, 120_000);
});

describe('at rest after the rounds', () => {
  it('no row of any table and no blob holds a 64-byte window of a device vector (and the scan finds one planted)', async () => {
    expect(sentVectors.length).toBeGreaterThan(2 * N);
    const haystacks: Uint8Array[] = [];
    const db = new BetterSqlite3(join(dataDir, SQLITE_FILE), { readonly: true });
    try {
      const tables = db.prepare("select name from sqlite_master where type = 'table'").all() as Array<{ name: string }>;
      expect(tables.map((t) => t.name)).toContain('secagg_round_stats');
      for (const { name } of tables)
        for (const row of db.prepare(`select * from "${name}"`).raw().all() as unknown[][])
          for (const cell of row) {
            if (cell instanceof Uint8Array) haystacks.push(cell);
            else if (typeof cell === 'string') {
              haystacks.push(new TextEncoder().encode(cell));
              const decoded = /^[A-Za-z0-9+/=]{88,}$/.test(cell) ? base64ToBytes(cell) : null;
              if (decoded) haystacks.push(decoded);
            }
          }
    } finally {
      db.close();
    }
    const walk = async (dir: string): Promise<string[]> =>
      (await readdir(dir, { withFileTypes: true })).flatMap((e) => [join(dir, e.name)]).length === 0
        ? []
        : (
            await Promise.all(
              (
                await readdir(dir, { withFileTypes: true })
              ).map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))),
            )
          ).flat();
    const blobFiles = await walk(join(dataDir, BLOB_DIR));
    expect(blobFiles.length).toBeGreaterThan(5);
    for (const file of blobFiles) haystacks.push(new Uint8Array(await readFile(file)));
    expect(findWindows(sentVectors, haystacks)).toBe(0);
    // Positive control: one masked vector's middle, planted in a copy of a blob, is found.
    const planted = new Uint8Array(4096 + 1000);
    planted.set(sentVectors[0].subarray(640, 640 + 4096), 1000);
    expect(findWindows(sentVectors, [planted])).toBeGreaterThanOrEqual(4096 / 64 - 1);
  }, 120_000);
});

describe('a restart', () => {
  it("fails an open secure-aggregation round the process holds nothing for with 'coordinator_restarted'", async () => {
    const taskId = await newTask('digits', plan({}));
    const devices = await selectAll(taskId, fleet.slice(0, 3));
    const roundId = devices[0].config.roundId;
    await runPhase(f, 'advertise', devices);
    // A second coordinator on the same data directory holds no phase state for the round.
    await flock.deps.rounds.secureAggregation.whenIdle(roundId);
    const restarted = new (flock.deps.rounds.secureAggregation.constructor as any)({
      store: flock.deps.store,
      log: pino({ level: 'silent' }),
      metrics: flock.deps.metrics,
      signing: flock.deps.signing,
      now: () => clock.now(),
    });
    await restarted.failOrphans();
    const round = (await flock.deps.store.getRound(roundId))!;
    expect(round.status).toBe('failed');
    expect(round.failureReason).toMatch(/^secure aggregation aborted \(coordinator_restarted\)/);
    expect((await flock.deps.store.getSecAggRoundStats(roundId))?.abortReason).toBe('coordinator_restarted');
  }, 60_000);
});

describe('at d = 199,210 (the MNIST 2NN)', () => {
  it('runs a round of 10 devices and reports its wall time', async () => {
    const big: FleetDevice[] = [];
    for (let i = 0; i < N; i++) big.push(await registerDevice(f, 'big'));
    const taskId = await newTask('big', plan({}));
    const started = performance.now();
    const devices = await selectAll(taskId, big);
    const encoded = performance.now();
    await runRound(devices, null, 0);
    const ms = performance.now() - started;
    const round = (await flock.deps.store.getRound(devices[0].config.roundId))!;
    expect(round.status).toBe('closed');
    expect(devices[0].config).toMatchObject({ dimension: 199_210, vectorLength: 262_144 });
    const { error, bound } = await meanError('big', devices, round.resultVersion!);
    expect(error).toBeLessThan(bound);
    console.log(
      `secagg round n=${N} d=199210: ${(ms / 1000).toFixed(2)} s wall (check-in + DDG encode ${((encoded - started) / 1000).toFixed(2)} s, phases + unmask + publish ${((ms - (encoded - started)) / 1000).toFixed(2)} s)`,
    );
  }, 300_000);
});
