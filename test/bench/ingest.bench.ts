/**
 * Update ingestion on loopback: a real coordinator (Hono on @hono/node-server,
 * SQLite + blob folder in a temp dir) takes int8 updates of a ~200k-parameter
 * model (MNIST 2NN, 199,210 params) from many devices, 64 connections, driven
 * by autocannon. Each device uploads once, so the run is a fixed amount of
 * work: decode, validate (shapes, finite, clip norm), durable blob + row,
 * fold into the streaming accumulator, acknowledge. Baseline in the same run
 * on the same server: `GET /healthz` at 64 connections.
 */
import { serve } from '@hono/node-server';
import autocannon, { type AutocannonResult } from 'autocannon';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { hashSecret, newId, newSecret } from '../../coordinator/auth/secrets.ts';
import { createCoordinator } from '../../coordinator/coordinator.ts';
import { checkIn, createTask, deltaTensors, encodeUpdate, mnistModelFiles, pushModel, testAdminKey, updateMeta, type Fetcher } from '../../coordinator/routes/fleet.fixture.ts';
import { UPDATE_META_HEADER, type CheckInSelected } from '../../shared/protocol/index.ts';
import type { BenchTable, Benchmark } from './bench-types.ts';

const DEVICES = Number(process.env.FLOCK_BENCH_DEVICES ?? 2048);
const CONNECTIONS = 64;
const HEALTH_REQUESTS = 20_000;

function row(name: string, r: AutocannonResult, extra: Record<string, number | string | null> = {}) {
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
    ...extra,
  };
}

async function run(): Promise<BenchTable[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-ingest-bench-'));
  const adminKey = testAdminKey();
  const flock = await createCoordinator({
    dataDir,
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
    if ((await pushModel(f, adminKey, 'digits', await mnistModelFiles('2nn'), 'production')).status !== 201) throw new Error('model push failed');
    const specs = (await flock.deps.store.getModelVersion('digits', 1))!.weightSpecs;
    const params = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    const task = await createTask(f, adminKey, 'digits', 1, {
      population: 10_000, clientsPerRound: 5000, roundDeadlineSeconds: 3600, clipNorm: 1, updateEncoding: { encoding: 'int8' },
    });
    const taskId = ((await task.json()) as { id: string }).id;

    // Devices straight into the store (registration is not what is measured); check-in over HTTP.
    const devices = Array.from({ length: DEVICES }, () => {
      const deviceId = newId('dev');
      return { deviceId, token: newSecret('device', deviceId) };
    });
    await flock.deps.store.transaction(async (tx) => {
      for (const d of devices) await tx.createDevice({ deviceId: d.deviceId, app: 'digits', tokenHash: hashSecret(d.token) });
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
        [UPDATE_META_HEADER]: JSON.stringify(updateMeta(roundId, d.deviceId, { numExamples: 50 + (k % 200), encoding: 'int8' })),
      },
      body: Buffer.from(encodeUpdate(deltaTensors(specs, (t, i) => 1e-3 * (((i * 13 + t * 7 + k) % 9) - 4) / 4), { encoding: 'int8' })),
    }));
    const updateBytes = uploads[0].body.byteLength;
    const setupSeconds = (performance.now() - setupStarted) / 1000;

    let next = 0;
    const ingest = await autocannon({
      url,
      connections: CONNECTIONS,
      amount: DEVICES,
      timeout: 60,
      requests: [{
        method: 'PUT',
        setupRequest: (req) => {
          const u = uploads[next++ % uploads.length];
          return { ...req, path: `/v1/rounds/${roundId}/updates`, headers: u.headers, body: u.body };
        },
      }],
    });
    const round = (await flock.deps.store.getRound(roundId))!;

    const health = await autocannon({ url: `${url}/healthz`, connections: CONNECTIONS, amount: HEALTH_REQUESTS, timeout: 60 });

    const ingestRow = row('PUT /v1/rounds/:id/updates (int8)', ingest, { 'MB/s in': (ingest['2xx'] * updateBytes) / ingest.duration / 1e6 });
    const healthRow = row('GET /healthz (baseline)', health, { 'MB/s in': null });
    const rows = [ingestRow, healthRow].map((r) => ({ ...r, 'ratio vs healthz': r['req/s'] / healthRow['req/s'] }));
    return [{
      title: `Update ingestion, ${params.toLocaleString('en')}-param model, ${CONNECTIONS} connections, loopback`,
      columns: ['route', 'requests', 'ok (2xx)', 'req/s', 'ratio vs healthz', 'p50 ms', 'p99 ms', 'max ms', 'MB/s in', 'errors'],
      rows,
      notes: [
        `${DEVICES} devices, each uploads one distinct int8 update of ${updateBytes} bytes once (autocannon amount=${DEVICES}); round goal 5000 so no close during the run`,
        `acknowledged updates stored in the round afterwards: ${round.reportedCount} of ${DEVICES} (status ${round.status})`,
        `each upload: auth (sha256 token check), meta + codec decode with model-derived limits, shape/finite/norm checks, blob fsync + SQLite row (WAL), fold into the ${flock.deps.store.kind} round's tfjs accumulator`,
        'server and autocannon share one Node process (both rows pay the same client overhead); 2 shared cores',
        `setup (push, ${DEVICES} check-ins, encoding) ${setupSeconds.toFixed(1)} s, not timed`,
      ],
    }];
  } finally {
    await new Promise<void>((done) => server.close(() => done()));
    await flock.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const bench: Benchmark = { name: 'ingest', run };
export default bench;
