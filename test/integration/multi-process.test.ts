/**
 * Three `flock serve` processes on one PostgreSQL behind a round-robin proxy
 * that retries another backend on connection errors. Devices check in through
 * the proxy (exactly selectionLimit selected across processes) and upload
 * updates with known contents; one process is `kill -9`ed mid-round. The round
 * completes on the others with the exact FedAvg aggregate (tolerance 1e-5:
 * float32 sums in another order), no acknowledged update is lost, retries of
 * acknowledged uploads return the first receipt, a restarted process rejoins,
 * and a deadline-passed round is closed by the sweeper of some process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  type FleetDevice,
} from '../../coordinator/routes/fleet.fixture.ts';
import { decodeTensors } from '../../shared/codec/index.ts';
import type { CheckInResponse, CheckInSelected } from '../../shared/protocol/index.ts';
import {
  startCoordinatorProcess,
  startRoundRobinProxy,
  type CoordinatorProcess,
  type RoundRobinProxy,
} from '../pg/coordinator-processes.ts';
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../pg/test-database.ts';

const skip = skipWithoutPostgres('multi-process coordinator test');
const adminKey = testAdminKey();
const admin = { authorization: `Bearer ${adminKey}` };

let db: TestDatabase | undefined;
let processes: CoordinatorProcess[] = [];
let proxy: RoundRobinProxy | undefined;

type RoundRow = {
  id: string;
  state: string;
  reports: number;
  resultVersion: number | null;
  metrics: Record<string, unknown>;
};

async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let value = await probe();
  while (!ok(value)) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
    value = await probe();
  }
  return value;
}

describe.skipIf(skip)('several coordinator processes on PostgreSQL', () => {
  beforeAll(async () => {
    db = await createTestDatabase('multi');
    // Started together: the migration lock makes one of them migrate.
    processes = await Promise.all([0, 1, 2].map(() => startCoordinatorProcess({ databaseUrl: db!.url, adminKey })));
    proxy = await startRoundRobinProxy(processes.map((p) => p.port));
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    for (const p of processes) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
    await db?.drop();
  });

  it('selects exactly selectionLimit across processes, survives kill -9 with the exact aggregate, and lets a restarted process rejoin', async () => {
    const f: Fetcher = httpFetcher(proxy!.base);
    for (const p of processes)
      expect(await (await fetch(`${p.base}/healthz`)).json()).toMatchObject({ status: 'ok', store: 'postgres' });
    expect((await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small', 7), 'production')).status).toBe(
      201,
    );
    const v1 = (await (await f('/v1/admin/models/digits/versions/1', { headers: admin })).json()) as {
      variants: Array<{ encoding: string; sha256: string }>;
    };
    const fp32Hash = (view: typeof v1) => view.variants.find((v) => v.encoding === 'fp32')!.sha256;
    const globals = decodeTensors(
      new Uint8Array(await (await f(`/v1/blobs/${fp32Hash(v1)}`, { headers: admin })).arrayBuffer()),
    );
    const specs = globals.map((t) => ({ name: t.name, shape: t.shape }));

    // goal 6, over-selection 1.5: selectionLimit 9.
    const taskRes = await createTask(f, adminKey, 'digits', 1, {
      population: 100,
      clientsPerRound: 6,
      minReports: 6,
      overSelection: 1.5,
      roundDeadlineSeconds: 3600,
      clipNorm: 1,
      maxDeviceWeightFactor: 3,
    });
    expect(taskRes.status).toBe(201);
    const taskId = ((await taskRes.json()) as { id: string }).id;
    const devices: FleetDevice[] = [];
    for (let i = 0; i < 14; i++) devices.push(await registerDevice(f, 'digits'));

    // All at once, spread over the three processes: they race to open the round and to claim slots.
    const answers = await Promise.all(devices.map((d) => checkIn(f, d, taskId)));
    const selected = answers.flatMap((a, i) =>
      a.body.status === 'selected' ? [{ device: devices[i], answer: a.body as CheckInSelected }] : [],
    );
    expect(selected).toHaveLength(9);
    expect(
      answers.filter(
        (a) =>
          a.body.status === 'retry' &&
          (a.body as Extract<CheckInResponse, { status: 'retry' }>).reason === 'round_full',
      ),
    ).toHaveLength(5);
    const roundId = selected[0].answer.roundId;
    expect(new Set(selected.map((s) => s.answer.roundId))).toEqual(new Set([roundId]));
    const rounds = async () =>
      ((await (await f(`/v1/admin/tasks/${taskId}/rounds`, { headers: admin })).json()) as { rounds: RoundRow[] })
        .rounds;
    expect(await rounds()).toHaveLength(1);

    const examples = [10, 40, 25, 100, 5, 70];
    const deltas = examples.map((_, k) => deltaTensors(specs, (t, i) => 5e-4 * (((i * 7 + t * 5 + k * 3) % 11) - 5)));
    const upload = (k: number) =>
      putUpdate(
        f,
        selected[k].device.token,
        roundId,
        encodeUpdate(deltas[k]),
        JSON.stringify(updateMeta(roundId, selected[k].device.deviceId, { numExamples: examples[k] })),
      );

    const acked: Array<{ receivedAt: string; backend: string }> = [];
    for (let k = 0; k < 3; k++) {
      const res = await upload(k);
      expect(res.status).toBe(200);
      const receipt = (await res.json()) as { duplicate: boolean; receivedAt: string };
      expect(receipt.duplicate).toBe(false);
      acked.push({ receivedAt: receipt.receivedAt, backend: res.headers.get('x-flock-backend')! });
    }
    // kill -9 a process that acknowledged at least one of them (its partial sum dies with it).
    const victim = processes.find((p) => acked.some((a) => a.backend === String(p.port)))!;
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');
    expect((await rounds())[0]).toMatchObject({ id: roundId, state: 'open', reports: 3 });

    // Retries of acknowledged uploads (the proxy skips the dead backend) return the first receipt.
    for (let k = 0; k < 3; k++) {
      const replay = await upload(k);
      expect(replay.status).toBe(200);
      expect(await replay.json()).toMatchObject({ duplicate: true, receivedAt: acked[k].receivedAt });
    }
    for (let k = 3; k < 6; k++) {
      const res = await upload(k);
      expect(res.status).toBe(200);
      acked.push({
        receivedAt: ((await res.json()) as { receivedAt: string }).receivedAt,
        backend: res.headers.get('x-flock-backend')!,
      });
    }
    const closed = await waitFor(
      'the round to close',
      async () => (await rounds())[0],
      (r) => r.state === 'closed',
    );
    expect(closed).toMatchObject({ state: 'closed', reports: 6, resultVersion: 2 });
    // The last upload reached quorum, so its process closed the round: its own sum, the other live
    // process's flushed partial sum, and the dead process's updates read back from storage.
    const closer = acked[5].backend;
    const count = (pred: (backend: string) => boolean) => acked.filter((a) => pred(a.backend)).length;
    expect(closed.metrics).toMatchObject({
      fromOwnFold: count((b) => b === closer),
      fromPartials: count((b) => b !== closer && b !== String(victim.port)),
      fromStorage: count((b) => b === String(victim.port)),
    });
    expect(closed.metrics.fromPartials).toBeGreaterThan(0); // round-robin: the other live process took some

    const v2 = (await (await f('/v1/admin/models/digits/versions/2', { headers: admin })).json()) as typeof v1 & {
      parentVersion: number;
      clients: number;
      roundId: string;
    };
    expect(v2).toMatchObject({ parentVersion: 1, clients: 6, roundId });
    expect(await (await f('/v1/admin/models/digits/versions/3', { headers: admin })).status).toBe(404);
    const after = decodeTensors(
      new Uint8Array(await (await f(`/v1/blobs/${fp32Hash(v2)}`, { headers: admin })).arrayBuffer()),
    );
    const total = examples.reduce((a, b) => a + b, 0);
    let worst = 0;
    let moved = 0;
    globals.forEach((g, t) => {
      expect(after[t].name).toBe(g.name);
      for (let i = 0; i < g.data.length; i++) {
        let mean = 0;
        for (let k = 0; k < 6; k++) mean += (examples[k] / total) * deltas[k][t].data[i];
        worst = Math.max(worst, Math.abs(after[t].data[i] - (g.data[i] + mean)));
        moved = Math.max(moved, Math.abs(after[t].data[i] - g.data[i]));
      }
    });
    expect(worst).toBeLessThan(1e-5);
    expect(moved).toBeGreaterThan(1e-4);

    // The killed process restarts and rejoins the rotation.
    const restarted = await startCoordinatorProcess({ databaseUrl: db!.url, adminKey });
    processes = [...processes.filter((p) => p !== victim), restarted];
    proxy!.backends = processes.map((p) => p.port);
    expect(await (await fetch(`${restarted.base}/healthz`)).json()).toMatchObject({ status: 'ok', store: 'postgres' });
    expect(
      (await (await fetch(`${restarted.base}/v1/admin/tasks/${taskId}/rounds`, { headers: admin })).json()) as {
        rounds: RoundRow[];
      },
    ).toMatchObject({ rounds: [{ id: roundId, state: 'closed', resultVersion: 2 }] });
  }, 180_000);

  it('closes a deadline-passed round from whichever process sweeps first, exactly once', async () => {
    const f: Fetcher = httpFetcher(proxy!.base);
    const taskRes = await createTask(f, adminKey, 'digits', 1, {
      population: 100,
      clientsPerRound: 3,
      minReports: 1,
      overSelection: 1,
      roundDeadlineSeconds: 5,
      clipNorm: 1,
    });
    expect(taskRes.status).toBe(201);
    const taskId = ((await taskRes.json()) as { id: string }).id;
    const device = await registerDevice(f, 'digits');
    const answer = (await checkIn(f, device, taskId)).body as CheckInSelected;
    expect(answer.status).toBe('selected');
    const v1 = (await (await f('/v1/admin/models/digits/versions/1', { headers: admin })).json()) as {
      variants: Array<{ encoding: string; sha256: string }>;
    };
    const fp32 = v1.variants.find((v) => v.encoding === 'fp32')!.sha256;
    const specs = decodeTensors(
      new Uint8Array(await (await f(`/v1/blobs/${fp32}`, { headers: admin })).arrayBuffer()),
    ).map((t) => ({ name: t.name, shape: t.shape }));
    const delta = deltaTensors(specs, () => 1e-4);
    const res = await putUpdate(
      f,
      device.token,
      answer.roundId,
      encodeUpdate(delta),
      JSON.stringify(updateMeta(answer.roundId, device.deviceId, { numExamples: 12 })),
    );
    expect(res.status).toBe(200);
    // Quorum (3) is not reached: only the deadline sweeper of some process can close it.
    const rounds = async () =>
      ((await (await f(`/v1/admin/tasks/${taskId}/rounds`, { headers: admin })).json()) as { rounds: RoundRow[] })
        .rounds;
    const closed = await waitFor(
      'the sweeper to close the round',
      async () => (await rounds())[0],
      (r) => r.state === 'closed',
      20_000,
    );
    expect(closed).toMatchObject({ id: answer.roundId, reports: 1, metrics: { closedBy: 'deadline' } });
    // Three sweepers raced for it; one version came out of the round.
    await new Promise((r) => setTimeout(r, 1500));
    const versions = (await (await f('/v1/admin/models/digits/versions', { headers: admin })).json()) as {
      versions: Array<{ version: number; roundId: string | null }>;
    };
    expect(versions.versions.filter((v) => v.roundId === answer.roundId).map((v) => v.version)).toEqual([
      closed.resultVersion,
    ]);
  }, 60_000);
});
