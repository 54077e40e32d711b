/**
 * Federated rounds over HTTP (`app.request`, real SQLite): over-selection,
 * a full round closing at quorum into a new version with lineage, hostile
 * uploads that each get the right status and change nothing, a round that
 * fails at its deadline, and the rejection metrics they leave behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  mnistModelFiles,
  pushModel,
  putUpdate,
  registerDevice,
  testAdminKey,
  updateMeta,
  type Fetcher,
  type FleetDevice,
} from './fleet.fixture.ts';

let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
let specs: WeightSpec[];
const adminKey = testAdminKey();
/** The coordinator's clock: the real time plus what a test skipped (a deadline, without waiting for it). */
let skippedMs = 0;
const clock = { now: () => Date.now() + skippedMs };
const admin = { authorization: `Bearer ${adminKey}` };

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-round-routes-'));
  flock = await createCoordinator({
    dataDir,
    adminKey,
    log: pino({ level: process.env.FLOCK_TEST_LOG ?? 'silent' }),
    sweep: false,
    clock,
  });
  f = async (path, init) => flock.app.request(path, init);
  expect((await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small'), 'production')).status).toBe(201);
  specs = (await flock.deps.store.getModelVersion('digits', 1))!.weightSpecs;
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function newTask(plan: Record<string, unknown>): Promise<string> {
  const res = await createTask(f, adminKey, 'digits', 1, { population: 100, ...plan });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}
const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
/** A small valid delta (norm well under clipNorm 1) that differs per `k`. */
const delta = (k: number) => deltaTensors(specs, (t, i) => 1e-4 * (((i * 7 + t * 3 + k) % 11) - 5));
const f32 = (k: number) => encodeUpdate(delta(k));
const rejected = async (reason: string) => {
  const text = await (await f('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(`flock_updates_rejected_total{reason="${reason}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
};

describe('a round', () => {
  let taskId: string;
  let devices: FleetDevice[];
  let round: CheckInSelected;
  const roundState = async () => (await flock.deps.store.getRound(round.roundId))!;

  it('selects clientsPerRound * overSelection devices and tells the next one to retry', async () => {
    taskId = await newTask({
      clientsPerRound: 3,
      minReports: 3,
      overSelection: 1.3,
      roundDeadlineSeconds: 600,
      clipNorm: 1,
    });
    devices = [];
    for (let i = 0; i < 6; i++) devices.push(await registerDevice(f, 'digits'));
    const answers = [];
    for (const d of devices.slice(0, 5)) answers.push(await checkIn(f, d, taskId));
    for (const a of answers.slice(0, 4)) expect(a.body.status).toBe('selected');
    const fifth = answers[4];
    expect(fifth.status).toBe(200);
    expect(fifth.body).toMatchObject({ status: 'retry', reason: 'round_full' });
    expect(Number(fifth.retryAfter)).toBeGreaterThanOrEqual(1);
    round = answers[0].body as CheckInSelected;
    expect(new Set(answers.slice(0, 4).map((a) => (a.body as CheckInSelected).roundId)).size).toBe(1);
    expect(round.plan.clipNorm).toBe(1);
    expect((await roundState()).selectedCount).toBe(4);
    // The same device checking in again keeps its slot rather than taking another.
    expect((await checkIn(f, devices[0], taskId)).body.status).toBe('selected');
    expect((await roundState()).selectedCount).toBe(4);
    // The global weights it names are downloadable with the device token.
    const blob = await f(`/v1/blobs/${round.globalWeights.hash}`, {
      headers: { authorization: `Bearer ${devices[0].token}` },
    });
    expect(blob.status).toBe(200);
  });

  it('refuses hostile uploads with the right status, and none of them changes the round', async () => {
    const [d0, d1] = devices;
    const outsider = devices[5];
    const meta = (d: FleetDevice, extra = {}) => JSON.stringify(updateMeta(round.roundId, d.deviceId, extra));
    const nan = delta(0);
    nan[0].data[17] = Number.NaN;
    const wrongShape = delta(0).map((t, i) => (i === 0 ? { ...t, shape: [...t.shape].reverse() } : t));
    const cases: Array<[string, () => Promise<Response>, number, string]> = [
      ['NaN update', () => putUpdate(f, d0.token, round.roundId, encodeUpdate(nan), meta(d0)), 422, 'non_finite'],
      [
        'wrong shape',
        () => putUpdate(f, d0.token, round.roundId, encodeUpdate(wrongShape), meta(d0)),
        422,
        'shape_mismatch',
      ],
      [
        'garbage bytes',
        () => putUpdate(f, d0.token, round.roundId, new Uint8Array(1000).fill(7), meta(d0)),
        422,
        'unprocessable',
      ],
      [
        'over the clip norm',
        () => putUpdate(f, d0.token, round.roundId, encodeUpdate(deltaTensors(specs, () => 0.01)), meta(d0)),
        422,
        'norm_exceeded',
      ],
      [
        'oversize body',
        () =>
          putUpdate(
            f,
            d0.token,
            round.roundId,
            new Uint8Array(specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0) * 9),
            meta(d0),
          ),
        413,
        'payload_too_large',
      ],
      [
        'unselected device',
        () => putUpdate(f, outsider.token, round.roundId, f32(5), meta(outsider)),
        403,
        'not_selected',
      ],
      [
        'bad token',
        () => putUpdate(f, `${d0.token.slice(0, -4)}AAAA`, round.roundId, f32(0), meta(d0)),
        401,
        'unauthorized',
      ],
      ["another device's id", () => putUpdate(f, d0.token, round.roundId, f32(1), meta(d1)), 403, 'forbidden'],
      [
        'malformed meta header',
        () => putUpdate(f, d0.token, round.roundId, f32(0), '{"roundId": '),
        400,
        'validation_failed',
      ],
      [
        'meta missing fields',
        () =>
          putUpdate(
            f,
            d0.token,
            round.roundId,
            f32(0),
            JSON.stringify({ roundId: round.roundId, deviceId: d0.deviceId }),
          ),
        400,
        'validation_failed',
      ],
      ['missing meta header', () => putUpdate(f, d0.token, round.roundId, f32(0), null), 400, 'validation_failed'],
      [
        'meta for another round',
        () => putUpdate(f, d0.token, round.roundId, f32(0), JSON.stringify(updateMeta('rnd_other', d0.deviceId))),
        400,
        'bad_request',
      ],
      [
        'unknown round',
        () => putUpdate(f, d0.token, 'rnd_unknown', f32(0), JSON.stringify(updateMeta('rnd_unknown', d0.deviceId))),
        404,
        'round_not_found',
      ],
    ];
    for (const [what, send, status, code] of cases) {
      const res = await send();
      expect(res.status, what).toBe(status);
      expect(await errorCode(res), what).toBe(code);
    }
    const after = await roundState();
    expect(after.reportedCount).toBe(0);
    expect(after.status).toBe('open');
    expect(await flock.deps.store.listUpdates(round.roundId)).toHaveLength(0);
    for (const reason of [
      'non_finite',
      'shape_mismatch',
      'norm_exceeded',
      'payload_too_large',
      'not_selected',
      'forbidden',
    ]) {
      expect(await rejected(reason), reason).toBeGreaterThanOrEqual(1);
    }
  });

  it('acknowledges an upload once: a replay gets the first receipt and counts once', async () => {
    const d0 = devices[0];
    const meta = JSON.stringify(updateMeta(round.roundId, d0.deviceId, { numExamples: 100 }));
    const first = await putUpdate(f, d0.token, round.roundId, f32(0), meta);
    expect(first.status).toBe(200);
    const receipt = (await first.json()) as { duplicate: boolean; receivedAt: string; accepted: boolean };
    expect(receipt).toMatchObject({ accepted: true, duplicate: false });
    skippedMs += 5; // a second receipt would carry a later time
    // Even a different body is a replay of the stored one; the first stays.
    const replay = await putUpdate(f, d0.token, round.roundId, f32(9), meta);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ duplicate: true, receivedAt: receipt.receivedAt });
    expect((await roundState()).reportedCount).toBe(1);
  });

  it('closes at quorum into a new version with lineage whose weights are global + FedAvg of the deltas', async () => {
    // At most the 100 each declared at check-in (a larger claim would count for 100), and no share above 2/3.
    const examples = [100, 80, 30];
    for (const [k, n] of examples.entries()) {
      if (k === 0) continue;
      const d = devices[k];
      const res = await putUpdate(
        f,
        d.token,
        round.roundId,
        f32(k),
        JSON.stringify(updateMeta(round.roundId, d.deviceId, { numExamples: n })),
      );
      expect(res.status).toBe(200);
    }
    const closed = await flock.deps.rounds.closeRound(round.roundId, 'quorum');
    expect(closed?.status).toBe('closed');
    expect(closed?.resultVersion).toBe(2);
    const view = (await (await f('/v1/admin/models/digits/versions/2', { headers: admin })).json()) as Record<
      string,
      unknown
    >;
    expect(view).toMatchObject({
      version: 2,
      parentVersion: 1,
      roundId: round.roundId,
      clients: 3,
      source: 'round',
      stage: 'candidate',
      clipNorm: 1,
      noiseMultiplier: 0,
      epsilon: null,
    });
    const task = (await (await f(`/v1/admin/tasks/${taskId}`, { headers: admin })).json()) as {
      currentVersion: number;
      roundsCompleted: number;
    };
    expect(task).toMatchObject({ currentVersion: 2, roundsCompleted: 1 });

    const fp32Of = async (v: number) => {
      const version = (await flock.deps.store.getModelVersion('digits', v))!;
      return decodeTensors(
        (await flock.deps.store.blobs.get(version.variants.find((x) => x.encoding === 'fp32')!.sha256))!,
      );
    };
    const before = await fp32Of(1);
    const after = await fp32Of(2);
    const total = examples.reduce((a, b) => a + b, 0);
    const deltas = examples.map((_, k) => delta(k));
    let worst = 0;
    before.forEach((t, ti) => {
      for (let i = 0; i < t.data.length; i++) {
        let mean = 0;
        examples.forEach((n, k) => (mean += (n / total) * deltas[k][ti].data[i]));
        worst = Math.max(worst, Math.abs(after[ti].data[i] - (t.data[i] + mean)));
      }
    });
    expect(worst).toBeLessThan(1e-6);
  });

  it('refuses an upload after the round closed with 409, and still answers replays', async () => {
    const d3 = devices[3];
    const late = await putUpdate(
      f,
      d3.token,
      round.roundId,
      f32(3),
      JSON.stringify(updateMeta(round.roundId, d3.deviceId)),
    );
    expect(late.status).toBe(409);
    expect(await errorCode(late)).toBe('round_closed');
    const replay = await putUpdate(
      f,
      devices[0].token,
      round.roundId,
      f32(0),
      JSON.stringify(updateMeta(round.roundId, devices[0].deviceId)),
    );
    expect(replay.status).toBe(200);
    expect(((await replay.json()) as { duplicate: boolean }).duplicate).toBe(true);
    expect((await roundState()).reportedCount).toBe(3);
  });
});

describe('a round without quorum', () => {
  it('fails cleanly at its deadline: no new version, task version unchanged, late uploads refused', async () => {
    const taskId = await newTask({ clientsPerRound: 3, minReports: 3, roundDeadlineSeconds: 5 });
    const devices = [await registerDevice(f, 'digits'), await registerDevice(f, 'digits')];
    const answers = [await checkIn(f, devices[0], taskId), await checkIn(f, devices[1], taskId)];
    const round = answers[0].body as CheckInSelected;
    expect(round.status).toBe('selected');
    const ok = await putUpdate(
      f,
      devices[0].token,
      round.roundId,
      f32(0),
      JSON.stringify(updateMeta(round.roundId, devices[0].deviceId)),
    );
    expect(ok.status).toBe(200);
    const versionsBefore = (await flock.deps.store.listModelVersions('digits', { limit: 100 })).length;

    skippedMs += Date.parse(round.deadlineAt) - clock.now() + 100;
    const late = await putUpdate(
      f,
      devices[1].token,
      round.roundId,
      f32(1),
      JSON.stringify(updateMeta(round.roundId, devices[1].deviceId)),
    );
    expect(late.status).toBe(409);
    expect(await errorCode(late)).toBe('late_upload');

    await flock.deps.rounds.sweep();
    const failed = (await flock.deps.store.getRound(round.roundId))!;
    expect(failed.status).toBe('failed');
    expect(failed.resultVersion).toBeNull();
    expect(failed.failureReason).toMatch(/1 of 3/);
    expect(await flock.deps.store.listModelVersions('digits', { limit: 100 })).toHaveLength(versionsBefore);
    const task = (await flock.deps.store.getTask(taskId))!;
    expect(task.currentVersion).toBe(1);
    const rounds = (await (await f(`/v1/admin/tasks/${taskId}/rounds`, { headers: admin })).json()) as {
      rounds: Array<{ state: string; failureReason: string }>;
    };
    expect(rounds.rounds[0].state).toBe('failed');
    // The next check-in opens a fresh round from the unchanged version.
    const next = await checkIn(f, devices[1], taskId);
    expect(next.body).toMatchObject({ status: 'selected', roundNumber: 2, globalVersion: 1 });
    expect(await rejected('late_upload')).toBeGreaterThanOrEqual(1);
  });
});
