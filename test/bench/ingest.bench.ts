/**
 * Update ingestion on loopback: a real coordinator (Hono on @hono/node-server,
 * SQLite + blob folder in a temp dir) takes int8 updates of a ~200k-parameter
 * model (MNIST 2NN, 199,210 params) from many devices, 64 connections, driven
 * by autocannon. Each device uploads once, so the run is a fixed amount of
 * work: decode, validate (shapes, finite, clip norm), durable blob + row,
 * fold into the streaming accumulator, acknowledge. Baselines in the same
 * run: `GET /healthz` at 64 connections, and the same uploads with SQLite
 * fsyncing inside every COMMIT instead of Flock's grouped WAL fsync.
 */
import { serve } from '@hono/node-server';
import autocannon, { type AutocannonResult } from 'autocannon';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { hashSecret, newId, newSecret } from '../../coordinator/auth/secrets.ts';
import { createCoordinator } from '../../coordinator/coordinator.ts';
import { openSqliteStore } from '../../coordinator/store/sqlite-store.ts';
import {
  checkIn,
  createTask,
  deltaTensors,
  encodeUpdate,
  mnistModelFiles,
  pushModel,
  testAdminKey,
  updateMeta,
  type Fetcher,
} from '../../coordinator/routes/fleet.fixture.ts';
import { UPDATE_META_HEADER, type CheckInSelected } from '../../shared/protocol/index.ts';
import type { BenchTable, Benchmark } from './bench-types.ts';

const DEVICES = Number(process.env.FLOCK_BENCH_DEVICES ?? 2048);
const CONNECTIONS = 64;
const HEALTH_REQUESTS = 20_000;

function row(name: string, r: AutocannonResult) {
  const ok = r['2xx'];
  return {
    route: name,
    requests: ok + r.non2xx,
    'ok (2xx)': ok,
    'req/s': ok / r.duration,
    'p50 ms': r.latency.p50,
    'p99 ms': r.latency.p99,
    'max ms': r.latency.max,
    errors: r.errors + r.timeouts + r.non2xx,
  };
}

/** One coordinator on a fresh data dir; `groupCommit: false` is SQLite fsyncing inside every COMMIT. */
async function ingestRun(devicesCount: number, groupCommit: boolean, withHealth: boolean) {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-ingest-bench-'));
  const adminKey = testAdminKey();
  const store = await openSqliteStore({ dataDir, groupCommit });
  const flock = await createCoordinator({
    dataDir,
    store,
    adminKey,
    log: pino({ level: 'silent' }),
    rateLimits: { registerPerIp: { limit: 1e9, windowMs: 60_000 }, perDevice: { limit: 1e9, windowMs: 60_000 } },
  });
  const server = serve({ fetch: flock.app.fetch, port: 0, hostname: '127.0.0.1' });
  try {
    await new Promise<void>((ready, fail) => {
      server.once('listening', ready);
      server.once('error', fail);
    });
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const f: Fetcher = async (path, init) => flock.app.request(path, init);

    const setupStarted = performance.now();
    if ((await pushModel(f, adminKey, 'digits', await mnistModelFiles('2nn'), 'production')).status !== 201)
      throw new Error('model push failed');
    const specs = (await flock.deps.store.getModelVersion('digits', 1))!.weightSpecs;
    const params = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    const task = await createTask(f, adminKey, 'digits', 1, {
      population: 10_000,
      clientsPerRound: 5000,
      roundDeadlineSeconds: 3600,
      clipNorm: 1,
      updateEncoding: { encoding: 'int8' },
    });
    const taskId = ((await task.json()) as { id: string }).id;

    // Devices straight into the store (registration is not what is measured); check-in over HTTP.
    const devices = Array.from({ length: devicesCount }, () => {
      const deviceId = newId('dev');
      return { deviceId, token: newSecret('device', deviceId) };
    });
    await flock.deps.store.transaction(async (tx) => {
      for (const d of devices)
        await tx.createDevice({ deviceId: d.deviceId, app: 'digits', tokenHash: hashSecret(d.token) });
    });
    let roundId = '';
    for (const d of devices) {
      const answer = (await checkIn(f, d, taskId)).body as CheckInSelected;
      if (answer.status !== 'selected') throw new Error(`device not selected: ${JSON.stringify(answer)}`);
      roundId = answer.roundId;
    }
    // One distinct int8 update per device (norm ~0.3, under clipNorm 1), encoded before the clock starts.
    const uploads = devices.map((d, k) => ({
      headers: {
        authorization: `Bearer ${d.token}`,
        'content-type': 'application/octet-stream',
        [UPDATE_META_HEADER]: JSON.stringify(
          updateMeta(roundId, d.deviceId, { numExamples: 50 + (k % 200), encoding: 'int8' }),
        ),
      },
      body: Buffer.from(
        encodeUpdate(
          deltaTensors(specs, (t, i) => (1e-3 * (((i * 13 + t * 7 + k) % 9) - 4)) / 4),
          { encoding: 'int8' },
        ),
      ),
    }));
    const updateBytes = uploads[0].body.byteLength;
    const setupSeconds = (performance.now() - setupStarted) / 1000;

    let next = 0;
    const ingest = await autocannon({
      url,
      connections: CONNECTIONS,
      amount: devicesCount,
      timeout: 60,
      requests: [
        {
          method: 'PUT',
          setupRequest: (req) => {
            const u = uploads[next++ % uploads.length];
            return { ...req, path: `/v1/rounds/${roundId}/updates`, headers: u.headers, body: u.body };
          },
        },
      ],
    });
    const round = (await flock.deps.store.getRound(roundId))!;
    const health = withHealth
      ? await autocannon({ url: `${url}/healthz`, connections: CONNECTIONS, amount: HEALTH_REQUESTS, timeout: 60 })
      : null;
    return { ingest, health, stored: round.reportedCount, status: round.status, params, updateBytes, setupSeconds };
  } finally {
    await new Promise<void>((done) => server.close(() => done()));
    await flock.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function run(): Promise<BenchTable[]> {
  // Alternating runs (grouped, inline, inline, grouped) so drift on this shared machine hits both alike.
  const half = Math.max(CONNECTIONS, Math.floor(DEVICES / 2));
  const g1 = await ingestRun(half, true, true);
  const i1 = await ingestRun(half, false, false);
  const i2 = await ingestRun(half, false, false);
  const g2 = await ingestRun(half, true, false);
  const mean = (a: number, b: number) => (a + b) / 2;
  const merged = (name: string, a: AutocannonResult, b: AutocannonResult) => {
    const ra = row(name, a);
    const rb = row(name, b);
    return {
      route: name,
      requests: ra.requests + rb.requests,
      'ok (2xx)': ra['ok (2xx)'] + rb['ok (2xx)'],
      'req/s': (ra['ok (2xx)'] + rb['ok (2xx)']) / (a.duration + b.duration),
      'p50 ms': mean(ra['p50 ms'], rb['p50 ms']),
      'p99 ms': mean(ra['p99 ms'], rb['p99 ms']),
      'max ms': Math.max(ra['max ms'], rb['max ms']),
      errors: ra.errors + rb.errors,
      'MB/s in': ((ra['ok (2xx)'] + rb['ok (2xx)']) * g1.updateBytes) / (a.duration + b.duration) / 1e6,
    };
  };
  const grouped = merged('PUT /v1/rounds/:id/updates (int8), grouped WAL fsync (default)', g1.ingest, g2.ingest);
  const inline = merged('PUT /v1/rounds/:id/updates (int8), fsync inside each COMMIT', i1.ingest, i2.ingest);
  const healthRow = { ...row('GET /healthz (baseline)', g1.health!), 'MB/s in': null };
  const rows = [grouped, inline, healthRow].map((r) => ({
    ...r,
    'ratio vs healthz': r['req/s'] / healthRow['req/s'],
    'vs fsync in COMMIT': r === healthRow ? null : r['req/s'] / inline['req/s'],
  }));
  const stored = [g1, i1, i2, g2].map((r) => `${r.stored}/${half} (${r.status})`).join(', ');
  return [
    {
      title: `Update ingestion, ${g1.params.toLocaleString('en')}-param model, ${CONNECTIONS} connections, loopback`,
      columns: [
        'route',
        'requests',
        'ok (2xx)',
        'req/s',
        'ratio vs healthz',
        'vs fsync in COMMIT',
        'p50 ms',
        'p99 ms',
        'max ms',
        'MB/s in',
        'errors',
      ],
      rows,
      notes: [
        `4 runs of ${half} devices on fresh coordinators, alternating grouped, inline, inline, grouped; each device uploads one distinct int8 update of ${g1.updateBytes} bytes once (autocannon amount=${half}); round goal 5000 so no close during a run; p50/p99 are the mean of a variant's two runs, max the larger`,
        `acknowledged updates stored per run afterwards: ${stored}`,
        "each upload: auth (sha256 token check), meta + codec decode with model-derived limits, shape/finite/norm checks, blob fsync + SQLite row (WAL), fold into the round's tfjs accumulator",
        'both variants survive power loss once acknowledged: "grouped" commits with synchronous=NORMAL and waits for one fsync of the WAL on the thread pool shared by every commit made before it started; "inline" is synchronous=FULL, an fsync inside each COMMIT on the main thread',
        'server and autocannon share one Node process (every row pays the same client overhead); 2 shared cores',
        `setup (push, ${half} check-ins, encoding) ${g1.setupSeconds.toFixed(1)} s per run, not timed`,
      ],
    },
  ];
}

const bench: Benchmark = { name: 'ingest', run };
export default bench;
