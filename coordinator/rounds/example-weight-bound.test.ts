/**
 * Issue 13 item 4, "one device sets the FedAvg step", reproduced over HTTP on
 * a real coordinator on loopback (real SQLite): four honest devices upload a -0.1 step on
 * one weight, one liar uploads +0.1 and claims 2^53-1 examples. Before the
 * bound the applied step was +0.1000 (the liar's alone). Now the weight is
 * min(claimed, declared at check-in, plan.maxExamplesPerDevice) and no
 * device's share of the FedAvg weight exceeds maxDeviceWeightFactor / n, so
 * the step stays on the honest side, within the liar's bounded share.
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
import type { CheckInSelected } from '../../shared/protocol/index.ts';
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

const HONEST_STEP = -0.1;
const LIAR_STEP = 0.1;
const HUGE = Number.MAX_SAFE_INTEGER; // 2^53 - 1

let dataDir: string;
let flock: Coordinator;
let server: ReturnType<typeof serve>;
let f: Fetcher;
let specs: WeightSpec[];
const adminKey = testAdminKey();

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-example-weight-'));
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

interface Sender {
  step: number;
  declared: number;
  claimed: number;
}

let lastMetrics: Record<string, unknown> = {};

/** One round of a fresh fedavg task: each sender checks in with `declared`, uploads `step` claiming `claimed`; returns the applied step. */
async function appliedStep(senders: Sender[], plan: Record<string, unknown> = {}): Promise<number> {
  const created = await createTask(f, adminKey, 'digits', 1, {
    population: 100,
    clientsPerRound: senders.length,
    minReports: senders.length,
    overSelection: 1,
    clipNorm: 1,
    ...plan,
  });
  expect(created.status).toBe(201);
  const taskId = ((await created.json()) as { id: string }).id;
  let roundId = '';
  for (const s of senders) {
    const device = await registerDevice(f, 'digits');
    const answer = await checkIn(f, device, taskId, s.declared);
    expect(answer.body.status).toBe('selected');
    roundId = (answer.body as CheckInSelected).roundId;
    const res = await putUpdate(
      f,
      device.token,
      roundId,
      stepBody(s.step),
      JSON.stringify(updateMeta(roundId, device.deviceId, { numExamples: s.claimed })),
    );
    expect(res.status).toBe(200);
  }
  const closed = await flock.deps.rounds.closeRound(roundId, 'quorum');
  expect(closed?.status).toBe('closed');
  lastMetrics = closed!.metrics;
  return (await firstWeight(closed!.resultVersion!)) - (await firstWeight(closed!.globalVersion));
}

const honest: Sender[] = Array.from({ length: 4 }, () => ({ step: HONEST_STEP, declared: 100, claimed: 100 }));

describe('one device cannot set the FedAvg step by claiming examples', () => {
  let honestMean: number;

  it('four honest devices alone step by their mean', async () => {
    honestMean = await appliedStep(honest);
    console.log(`applied step, honest devices only: ${honestMean.toFixed(4)}`);
    expect(honestMean).toBeCloseTo(HONEST_STEP, 6);
  });

  it('a liar that declared 100 at check-in and claims 2^53-1 at upload weighs as 100', async () => {
    const step = await appliedStep([...honest, { step: LIAR_STEP, declared: 100, claimed: HUGE }]);
    console.log(
      `applied step, liar declared 100, claimed 2^53-1: ${step.toFixed(4)} (honest mean ${honestMean.toFixed(4)})`,
    );
    // Five equal weights: (4 * -0.1 + 0.1) / 5.
    expect(step).toBeCloseTo((4 * HONEST_STEP + LIAR_STEP) / 5, 5);
  });

  it('a liar that declares and claims 2^53-1 gets at most maxDeviceWeightFactor / n of the weight', async () => {
    const step = await appliedStep([...honest, { step: LIAR_STEP, declared: HUGE, claimed: HUGE }]);
    console.log(
      `applied step, liar declared and claimed 2^53-1: ${step.toFixed(4)} (honest mean ${honestMean.toFixed(4)})`,
    );
    // The default factor 2 over 5 reports: the liar's share is at most 0.4, so the step moves at most 0.4 * 0.2 from the honest mean.
    const maxShare = 2 / 5;
    expect(step).toBeLessThan(0);
    expect(Math.abs(step - honestMean)).toBeLessThanOrEqual(maxShare * (LIAR_STEP - HONEST_STEP) + 1e-5);
    expect(step).toBeCloseTo((1 - maxShare) * HONEST_STEP + maxShare * LIAR_STEP, 5);
    // The round says so: one weight lowered, to 4 * 100 * 0.4 / 0.6; the liar was admitted at the plan's cap.
    expect(lastMetrics).toMatchObject({ weightsLowered: 1, examples: 4 * 100 + 10_000 });
    expect(lastMetrics.weightCeiling).toBeCloseTo(800 / 3, 6);
  });

  it("the plan's examples cap binds an honest count above it", async () => {
    const step = await appliedStep([...honest, { step: LIAR_STEP, declared: HUGE, claimed: HUGE }], {
      maxExamplesPerDevice: 100,
    });
    console.log(`applied step, maxExamplesPerDevice 100: ${step.toFixed(4)}`);
    expect(step).toBeCloseTo((4 * HONEST_STEP + LIAR_STEP) / 5, 5);
  });
});
