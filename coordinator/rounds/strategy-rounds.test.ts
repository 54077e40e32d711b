/**
 * Every strategy a plan may name, closed through the round service over HTTP
 * on a real coordinator (real SQLite): the service asks the strategy how to
 * collect the round (streaming sum or every update kept) and how to step, and
 * the applied step on the one weight the devices move is the strategy's.
 * Five devices, equal weights: four step -0.1, one +0.5.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensors } from '../../shared/codec/index.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import { STRATEGY_NAMES, type CheckInSelected, type StrategyInput } from '../../shared/protocol/index.ts';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import {
  checkIn,
  createTask,
  deltaTensors,
  encodeUpdate,
  httpFetcher,
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
let server: ReturnType<typeof serve>;
let f: Fetcher;
let specs: WeightSpec[];
const adminKey = testAdminKey();

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-strategy-rounds-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: process.env.FLOCK_TEST_LOG ?? 'silent' }),
    sweep: false,
  });
  server = serve({ fetch: flock.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((ready, fail) => {
    server.once('listening', ready);
    server.once('error', fail);
  });
  f = httpFetcher(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  expect((await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small'), 'production')).status).toBe(201);
  specs = (await flock.deps.store.getModelVersion('digits', 1))!.weightSpecs;
});
afterAll(async () => {
  server?.close();
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** A delta that moves only the first weight, by `step` (norm |step|, well under clipNorm 1). */
const stepBody = (step: number) => encodeUpdate(deltaTensors(specs, (t, i) => (t === 0 && i === 0 ? step : 0)));

const firstWeight = async (version: number) => {
  const v = (await flock.deps.store.getModelVersion('digits', version))!;
  return decodeTensors((await flock.deps.store.blobs.get(v.variants.find((x) => x.encoding === 'fp32')!.sha256))!)[0]
    .data[0];
};

const STEPS = [-0.1, -0.1, -0.1, -0.1, 0.5];
const mean = STEPS.reduce((a, b) => a + b, 0) / STEPS.length; // 0.02

/** One round of a fresh task under `strategy`; returns the step applied to the first weight. */
async function appliedStep(strategy: StrategyInput): Promise<number> {
  const created = await createTask(f, adminKey, 'digits', 1, {
    population: 100,
    clientsPerRound: STEPS.length,
    minReports: STEPS.length,
    overSelection: 1,
    clipNorm: 1,
    strategy,
  });
  expect(created.status).toBe(201);
  const taskId = ((await created.json()) as { id: string }).id;
  let roundId = '';
  for (const step of STEPS) {
    const device = await registerDevice(f, 'digits');
    const answer = await checkIn(f, device, taskId, 100);
    expect(answer.body.status).toBe('selected');
    roundId = (answer.body as CheckInSelected).roundId;
    const res = await putUpdate(
      f,
      device.token,
      roundId,
      stepBody(step),
      JSON.stringify(updateMeta(roundId, device.deviceId, { numExamples: 100 })),
    );
    expect(res.status).toBe(200);
  }
  const closed = await flock.deps.rounds.closeRound(roundId, 'quorum');
  expect(closed?.status, JSON.stringify(closed?.metrics)).toBe('closed');
  return (await firstWeight(closed!.resultVersion!)) - (await firstWeight(closed!.globalVersion));
}

/** The first round's step of Reddi et al.'s adaptive optimizers, from zero moments (v starts at τ²). */
const adaptiveStep = (eta: number, tau: number, v: number) => (eta * 0.1 * mean) / (Math.sqrt(v) + tau);

const expected: Array<[string, StrategyInput, number]> = [
  ['fedavg', { name: 'fedavg' }, mean],
  ['fedavgm', { name: 'fedavgm' }, mean],
  ['fedadam', { name: 'fedadam' }, adaptiveStep(0.1, 1e-9, 0.99 * 1e-18 + 0.01 * mean * mean)],
  ['fedyogi', { name: 'fedyogi' }, adaptiveStep(0.01, 1e-3, 1e-6 + 0.01 * mean * mean)],
  ['fedadagrad', { name: 'fedadagrad' }, adaptiveStep(0.1, 1e-9, 1e-18 + mean * mean)],
  ['median', { name: 'median' }, -0.1],
  // floor(0.2 * 5) = 1 value trimmed at each end: the mean of three -0.1.
  ['trimmed-mean', { name: 'trimmed-mean' }, -0.1],
  // The +0.5 update scaled down to norm 0.2.
  ['norm-bounding', { name: 'norm-bounding', normBound: 0.2 }, (4 * -0.1 + 0.2) / 5],
];

describe('every strategy closes a round through the round service', () => {
  it('covers the whole registry', () => {
    expect(expected.map(([name]) => name)).toEqual([...STRATEGY_NAMES]);
  });

  for (const [name, strategy, step] of expected) {
    it(`${name}: applied step ${step.toFixed(4)}`, async () => {
      expect(await appliedStep(strategy)).toBeCloseTo(step, 5);
    });
  }
});
