/**
 * The kill -9 test: a real `flock serve` process on loopback with a real
 * SQLite data directory is SIGKILLed mid-round after acknowledging 4 of 6
 * updates. After a restart on the same directory no acknowledged update is
 * lost (replays get the first receipt), the last 2 uploads close the round,
 * and the new version is exactly global + FedAvg of all 6 known deltas.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensors } from '../../shared/codec/index.ts';
import type { CheckInSelected } from '../../shared/protocol/index.ts';
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

const root = fileURLToPath(new URL('../../', import.meta.url));
const adminKey = testAdminKey();
const admin = { authorization: `Bearer ${adminKey}` };
let dataDir: string;
let server: { child: ChildProcess; base: string; exited: Promise<NodeJS.Signals | number | null> } | null = null;

/** Starts `flock serve --port 0` and resolves with the URL it prints first. */
async function startServer(): Promise<NonNullable<typeof server>> {
  const child = spawn(
    process.execPath,
    [join(root, 'bin/flock.js'), 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--no-demo'],
    {
      cwd: root,
      env: { ...process.env, FLOCK_ADMIN_KEY: adminKey, FLOCK_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`flock serve did not start in 60 s; stderr: ${stderr}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = out.match(/flock coordinator listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((how) => reject(new Error(`flock serve exited (${how}) before listening; stderr: ${stderr}`)));
  });
  return { child, base, exited };
}

async function kill9(): Promise<void> {
  if (!server) return;
  server.child.kill('SIGKILL');
  expect(await server.exited).toBe('SIGKILL');
  server = null;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-crash-'));
});
afterAll(async () => {
  if (server) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
  await rm(dataDir, { recursive: true, force: true });
});

describe('crash recovery (kill -9 mid-round)', () => {
  it('loses no acknowledged update and closes the round with all six deltas', async () => {
    server = await startServer();
    let f: Fetcher = httpFetcher(server.base);
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

    const taskRes = await createTask(f, adminKey, 'digits', 1, {
      population: 100,
      clientsPerRound: 6,
      minReports: 6,
      overSelection: 1,
      roundDeadlineSeconds: 3600,
      clipNorm: 1,
      maxDeviceWeightFactor: 3,
    });
    expect(taskRes.status).toBe(201);
    const taskId = ((await taskRes.json()) as { id: string }).id;
    const devices: FleetDevice[] = [];
    for (let i = 0; i < 6; i++) devices.push(await registerDevice(f, 'digits'));
    let roundId = '';
    for (const d of devices) {
      const answer = (await checkIn(f, d, taskId)).body as CheckInSelected;
      expect(answer.status).toBe('selected');
      roundId = answer.roundId;
    }

    const examples = [10, 40, 25, 100, 5, 70];
    const deltas = examples.map((_, k) => deltaTensors(specs, (t, i) => 5e-4 * (((i * 7 + t * 5 + k * 3) % 11) - 5)));
    const upload = (k: number, fetcher: Fetcher) =>
      putUpdate(
        fetcher,
        devices[k].token,
        roundId,
        encodeUpdate(deltas[k]),
        JSON.stringify(updateMeta(roundId, devices[k].deviceId, { numExamples: examples[k] })),
      );

    const receipts: string[] = [];
    for (let k = 0; k < 4; k++) {
      const res = await upload(k, f);
      expect(res.status).toBe(200);
      const receipt = (await res.json()) as { duplicate: boolean; receivedAt: string };
      expect(receipt.duplicate).toBe(false);
      receipts.push(receipt.receivedAt);
    }

    await kill9();
    server = await startServer();
    f = httpFetcher(server.base);

    const rounds = async () =>
      (
        (await (await f(`/v1/admin/tasks/${taskId}/rounds`, { headers: admin })).json()) as {
          rounds: Array<{ id: string; state: string; reports: number; resultVersion: number | null }>;
        }
      ).rounds;
    expect((await rounds())[0]).toMatchObject({ id: roundId, state: 'open', reports: 4 });
    for (let k = 0; k < 4; k++) {
      const replay = await upload(k, f);
      expect(replay.status).toBe(200);
      expect(await replay.json()).toMatchObject({ duplicate: true, receivedAt: receipts[k] });
    }
    expect((await rounds())[0].reports).toBe(4);

    for (let k = 4; k < 6; k++) expect((await upload(k, f)).status).toBe(200);
    let closed = (await rounds())[0];
    for (let i = 0; i < 200 && closed.state !== 'closed'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      closed = (await rounds())[0];
    }
    expect(closed).toMatchObject({ state: 'closed', reports: 6, resultVersion: 2 });

    const v2 = (await (await f('/v1/admin/models/digits/versions/2', { headers: admin })).json()) as typeof v1 & {
      parentVersion: number;
      clients: number;
      roundId: string;
    };
    expect(v2).toMatchObject({ parentVersion: 1, clients: 6, roundId });
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

    // A clean shutdown on SIGTERM after the crash-restart.
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    server = null;
  }, 120_000);
});
