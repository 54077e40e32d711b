/**
 * Evaluation that feeds the charts, over HTTP on a real coordinator (real
 * SQLite): a model pushed with a holdout of real MNIST test images, a task
 * whose plan says `evaluation: { holdout: 'model' }`, one round from two
 * devices. The round's holdout accuracy and loss equal an independent
 * evaluation of the version it produced; `flock task rounds` prints them;
 * tasks naming a holdout that is missing or does not fit are refused with 422.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensors } from '../../shared/codec/index.ts';
import { evaluateAccuracy, modelFromParts, type WeightSpec } from '../../shared/model/index.ts';
import type { CheckInSelected } from '../../shared/protocol/index.ts';
import { loadMnist } from '../../simulate/datasets/mnist.ts';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { writeHoldout } from '../registry/holdout.ts';
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
const admin = { authorization: `Bearer ${adminKey}` };
const mnist = loadMnist({ split: 'test', limit: 400 });
const holdoutBytes = writeHoldout({ x: mnist.images, y: mnist.labels, inputShape: [784] });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-round-eval-'));
  flock = await createCoordinator({ dataDir, adminKey, log: pino({ level: 'silent' }), sweep: false });
  f = async (path, init) => flock.app.request(path, init);
  const files = await mnistModelFiles('mlp-small');
  expect(
    (await pushModel(f, adminKey, 'digits', new Map([...files, ['holdout', holdoutBytes]]), 'production')).status,
  ).toBe(201);
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201); // v2: no holdout
  specs = (await flock.deps.store.getModelVersion('digits', 1))!.weightSpecs;
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('rounds evaluated on a holdout', () => {
  it('keeps holdout accuracy and loss with the round, equal to evaluating the new version independently', async () => {
    const created = await createTask(f, adminKey, 'digits', 1, {
      population: 10,
      clientsPerRound: 2,
      minReports: 2,
      overSelection: 1,
      clipNorm: 1,
      evaluation: { holdout: 'model' },
    });
    expect(created.status).toBe(201);
    const task = (await created.json()) as { id: string; plan: { evaluation: { holdout: string } } };
    expect(task.plan.evaluation.holdout).toMatch(/^[0-9a-f]{64}$/);
    let roundId = '';
    for (const k of [0, 1]) {
      const d = await registerDevice(f, 'digits');
      roundId = ((await checkIn(f, d, task.id)).body as CheckInSelected).roundId;
      const body = encodeUpdate(deltaTensors(specs, (t, i) => 1e-3 * (((i + k + t) % 7) - 3)));
      expect((await putUpdate(f, d.token, roundId, body, JSON.stringify(updateMeta(roundId, d.deviceId)))).status).toBe(
        200,
      );
    }
    let round = await flock.deps.store.getRound(roundId);
    for (let i = 0; i < 100 && round?.status !== 'closed'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      round = await flock.deps.store.getRound(roundId);
    }
    const rounds = (await (await f(`/v1/admin/tasks/${task.id}/rounds`, { headers: admin })).json()) as {
      rounds: { resultVersion: number; metrics: Record<string, number> }[];
    };
    const { metrics, resultVersion } = rounds.rounds[0];
    expect(metrics.holdoutCount).toBe(400);

    const version = (await flock.deps.store.getModelVersion('digits', resultVersion))!;
    const weights = decodeTensors(
      (await flock.deps.store.blobs.get(version.variants.find((v) => v.encoding === 'fp32')!.sha256))!,
    ).map((t) => t.data);
    const { topologyHash: _hash, ...topology } = version.topology;
    const model = await modelFromParts({ topology, weightSpecs: specs, weights });
    const expected = await evaluateAccuracy(model, { x: mnist.images, y: mnist.labels, inputShape: [784] });
    model.dispose();
    expect(metrics.holdoutAccuracy).toBeCloseTo(expected.accuracy, 10);
    expect(metrics.holdoutLoss).toBeCloseTo(expected.loss, 5);
    expect(version.metrics.holdoutAccuracy).toBe(metrics.holdoutAccuracy);
    await f(`/v1/admin/tasks/${task.id}/pause`, { method: 'POST', headers: admin });
  });

  it('refuses a task whose holdout is missing or does not fit the model, naming it', async () => {
    const noHoldout = await createTask(f, adminKey, 'digits', 2, { population: 10, evaluation: { holdout: 'model' } });
    expect(noHoldout.status).toBe(422);
    expect(await noHoldout.text()).toMatch(/digits@2 was pushed without a holdout/);
    const unknown = await createTask(f, adminKey, 'digits', 1, {
      population: 10,
      evaluation: { holdout: 'a'.repeat(64) },
    });
    expect(unknown.status).toBe(422);
    expect(await unknown.text()).toMatch(/no stored holdout a{64}/);
    const { hash } = await flock.deps.store.blobs.put(
      writeHoldout({ x: new Float32Array(3 * 10), y: new Uint8Array(3), inputShape: [10] }),
    );
    const misfit = await createTask(f, adminKey, 'digits', 1, { population: 10, evaluation: { holdout: hash } });
    expect(misfit.status).toBe(422);
    expect(await misfit.text()).toMatch(/holdout examples are \[10\] but digits@1 takes \[784\]/);
    const bad = await createTask(f, adminKey, 'digits', 1, { population: 10, evaluation: { holdout: 'latest' } });
    expect(bad.status).toBe(400);
  });
});
