/**
 * One round at fleet scale (issue 15, goal 4): N lightweight simulated devices
 * (default 10,000; precomputed int8 updates of the MNIST 2NN, 199,210 params)
 * register, check in and upload over real HTTP on loopback, and the round
 * closes, against
 *  - one in-process coordinator on SQLite (the load generator shares its
 *    process, as in ingest.bench.ts), and
 *  - two `flock serve --store postgres://...` processes sharing one database
 *    (devices alternate between them), when FLOCK_TEST_DATABASE_URL is set.
 * Registration goes through the public route, from 200 loopback addresses so
 * that the server's default per-IP limit holds. Reported: wall time per
 * phase, updates/s, upload p50/p99, and peak RSS against what holding every
 * update would take (devices x params x 4 bytes): memory must stay
 * O(parameters), not O(devices x parameters).
 *
 *   FLOCK_BENCH_FLEET_DEVICES=10000 npx tsx test/bench/run.ts fleet-round
 */
import { request, Agent } from 'node:http';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { KEEP_ALIVE_TIMEOUT_MS } from '../../cli/serve.ts';
import { newSecret } from '../../coordinator/auth/secrets.ts';
import { createCoordinator } from '../../coordinator/coordinator.ts';
import { deltaTensors, encodeUpdate, mnistModelFiles, updateMeta } from '../../coordinator/routes/fleet.fixture.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import { UPDATE_META_HEADER } from '../../shared/protocol/index.ts';
import { startCoordinatorProcess } from '../pg/coordinator-processes.ts';
import type { BenchTable, Benchmark } from './bench-types.ts';

const DEVICES = Number(process.env.FLOCK_BENCH_FLEET_DEVICES ?? 10_000);
const CONCURRENCY = 64;
const ADDRESSES = 200;

/** One keep-alive agent per loopback source address. */
const agents = Array.from(
  { length: ADDRESSES },
  (_, i) => new Agent({ keepAlive: true, maxSockets: 4, localAddress: `127.0.${1 + (i >> 8)}.${2 + (i & 255)}` }),
);

interface Answer {
  status: number;
  body: string;
}

/** An HTTP call through `agent` (fetch cannot choose its source address). */
function call(
  agent: Agent,
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer | string,
): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        agent,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(120_000, () => req.destroy(new Error('no answer in 120 s')));
    req.on('error', (error) => reject(new Error(`${method} ${url.pathname}: ${error.message}`, { cause: error })));
    req.end(body);
  });
}

/** Runs `work(i)` for i in [0, n), `width` at a time; returns per-call milliseconds. */
async function pool(n: number, width: number, work: (i: number) => Promise<void>): Promise<number[]> {
  const times: number[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t = performance.now();
        await work(i);
        times[i] = performance.now() - t;
      }
    }),
  );
  return times;
}

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.replace(/\D+/g, '') ?? 0) / 1024;
}

/** Samples the summed RSS of `pids` every 50 ms until stopped. */
function rssSampler(pids: number[]) {
  const at = () => pids.reduce((n, pid) => n + rssMb(pid), 0);
  const baseline = at();
  let peak = baseline;
  const timer = setInterval(() => (peak = Math.max(peak, at())), 50);
  return { baseline, stop: () => (clearInterval(timer), peak) };
}

interface Fleet {
  label: string;
  /** Base URLs; device i talks to bases[i % bases.length]. */
  bases: string[];
  pids: number[];
  close(): Promise<void>;
}

async function sqliteFleet(adminKey: string): Promise<Fleet> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-fleet-bench-'));
  const flock = await createCoordinator({ dataDir, adminKey, log: pino({ level: 'silent' }) });
  const server = serve({ fetch: flock.app.fetch, port: 0, hostname: '127.0.0.1' }); // sources 127.0.x.y reach it over lo
  // As flock serve does: idle keep-alive sockets outlive the clients' reuse window.
  (server as import('node:http').Server).keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((ready, fail) => {
    server.once('listening', ready);
    server.once('error', fail);
  });
  return {
    label: 'SQLite, 1 process (in-process load generator)',
    bases: [`http://127.0.0.1:${(server.address() as AddressInfo).port}`],
    pids: [process.pid],
    close: async () => {
      await new Promise<void>((done) => server.close(() => done()));
      await flock.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function postgresFleet(adminKey: string, databaseUrl: string): Promise<Fleet> {
  const procs: Awaited<ReturnType<typeof startCoordinatorProcess>>[] = [];
  for (let i = 0; i < 2; i++) procs.push(await startCoordinatorProcess({ databaseUrl, adminKey }));
  return {
    label: 'PostgreSQL, 2 flock serve processes',
    bases: procs.map((p) => `http://127.0.0.1:${p.port}`),
    pids: procs.map((p) => p.child.pid!),
    close: async () => {
      for (const p of procs) p.child.kill('SIGTERM');
      await Promise.all(procs.map((p) => p.exited));
    },
  };
}

/** Registers, checks in and uploads DEVICES devices through `fleet`, then waits for the round to close. */
async function oneRound(fleet: Fleet, adminKey: string, app: string) {
  const admin = { authorization: `Bearer ${adminKey}` };
  const base0 = fleet.bases[0];
  const files = await mnistModelFiles('2nn');
  const form = new FormData();
  for (const [name, bytes] of files) form.append(name, new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  form.append('stage', 'production');
  const pushed = await fetch(`${base0}/v1/admin/models/${app}`, { method: 'POST', headers: admin, body: form });
  if (pushed.status !== 201) throw new Error(`model push answered ${pushed.status}: ${await pushed.text()}`);
  const modelJson = JSON.parse(new TextDecoder().decode(files.get('model.json'))) as {
    weightsManifest: { weights: WeightSpec[] }[];
  };
  const specs = modelJson.weightsManifest.flatMap((g) => g.weights);
  const params = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const created = await fetch(`${base0}/v1/admin/tasks`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({
      app,
      modelVersion: 1,
      plan: {
        population: DEVICES,
        clientsPerRound: DEVICES,
        minReports: DEVICES,
        overSelection: 1,
        roundDeadlineSeconds: 3600,
        clipNorm: 1,
        noiseMultiplier: 1,
        updateEncoding: { encoding: 'int8' },
      },
    }),
  });
  if (created.status !== 201) throw new Error(`task create answered ${created.status}: ${await created.text()}`);
  const taskId = ((await created.json()) as { id: string }).id;
  // One int8 body (norm ~0.3, under clipNorm 1) for everyone: the devices are lightweight, the server does the real work.
  const body = Buffer.from(
    encodeUpdate(
      deltaTensors(specs, (t, i) => (1e-3 * (((i * 13 + t * 7) % 9) - 4)) / 4),
      { encoding: 'int8' },
    ),
  );

  const rss = rssSampler(fleet.pids);
  const devices: { deviceId: string; token: string }[] = new Array(DEVICES);
  const roundIds = new Set<string>();
  const at = (i: number) => ({ agent: agents[i % ADDRESSES], base: fleet.bases[i % fleet.bases.length] });
  const ok = (what: string, a: Answer, want: number) => {
    if (a.status !== want) throw new Error(`${what} answered ${a.status}: ${a.body.slice(0, 300)}`);
  };

  const t0 = performance.now();
  await pool(DEVICES, CONCURRENCY, async (i) => {
    const { agent, base } = at(i);
    const a = await call(
      agent,
      base,
      'POST',
      '/v1/devices',
      { 'content-type': 'application/json' },
      JSON.stringify({ app, platform: { runtime: 'node' } }),
    );
    ok('registration', a, 201);
    devices[i] = JSON.parse(a.body) as { deviceId: string; token: string };
  });
  const t1 = performance.now();
  process.stderr.write(`  ${fleet.label}: ${DEVICES} registered in ${((t1 - t0) / 1000).toFixed(1)} s\n`);
  await pool(DEVICES, CONCURRENCY, async (i) => {
    const { agent, base } = at(i);
    const d = devices[i];
    const a = await call(
      agent,
      base,
      'POST',
      `/v1/tasks/${taskId}/checkin`,
      { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
      JSON.stringify({ deviceId: d.deviceId, taskId, numExamples: 100 }),
    );
    ok('check-in', a, 200);
    const answer = JSON.parse(a.body) as { status: string; roundId?: string };
    if (answer.status !== 'selected') throw new Error(`device ${i} not selected: ${a.body}`);
    roundIds.add(answer.roundId!);
  });
  if (roundIds.size !== 1) throw new Error(`expected one round, got ${roundIds.size}`);
  const [roundId] = roundIds;
  const t2 = performance.now();
  process.stderr.write(`  checked in in ${((t2 - t1) / 1000).toFixed(1)} s\n`);
  const uploadMs = await pool(DEVICES, CONCURRENCY, async (i) => {
    const { agent, base } = at(i);
    const d = devices[i];
    const meta = JSON.stringify(updateMeta(roundId, d.deviceId, { numExamples: 100, encoding: 'int8' }));
    const a = await call(
      agent,
      base,
      'PUT',
      `/v1/rounds/${roundId}/updates`,
      { authorization: `Bearer ${d.token}`, 'content-type': 'application/octet-stream', [UPDATE_META_HEADER]: meta },
      body,
    );
    ok('upload', a, 200);
  });
  const t3 = performance.now();
  process.stderr.write(`  uploaded in ${((t3 - t2) / 1000).toFixed(1)} s; waiting for the round to close\n`);
  let state = '';
  for (;;) {
    const rounds = (await (await fetch(`${base0}/v1/admin/tasks/${taskId}/rounds`, { headers: admin })).json()) as {
      rounds: { id: string; state: string; reports: number }[];
    };
    state = rounds.rounds.find((r) => r.id === roundId)?.state ?? '';
    if (state === 'closed' || state === 'failed') break;
    if (performance.now() - t3 > 600_000) throw new Error(`round still ${state} 10 minutes after the last upload`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const t4 = performance.now();
  const peak = rss.stop();
  process.stderr.write(
    `  round ${state} ${((t4 - t3) / 1000).toFixed(1)} s after the last upload; peak RSS ${peak.toFixed(0)} MB\n`,
  );
  return {
    store: fleet.label,
    devices: DEVICES,
    'register s': (t1 - t0) / 1000,
    'check-in s': (t2 - t1) / 1000,
    'upload s': (t3 - t2) / 1000,
    'close s': (t4 - t3) / 1000,
    'wall s': (t4 - t0) / 1000,
    'updates/s': DEVICES / ((t3 - t2) / 1000),
    'upload p50 ms': percentile(uploadMs, 0.5),
    'upload p99 ms': percentile(uploadMs, 0.99),
    'RSS base MB': rss.baseline,
    'RSS peak MB': peak,
    'held-all MB': (DEVICES * params * 4) / 2 ** 20,
    round: state,
    'update KB': body.byteLength / 1024,
  };
}

async function run(): Promise<BenchTable[]> {
  const adminKey = newSecret('admin', 'fleet-bench');
  const rows = [];
  const sqlite = await sqliteFleet(adminKey);
  try {
    rows.push(await oneRound(sqlite, adminKey, 'fleet'));
  } finally {
    await sqlite.close();
  }
  const notes = [
    `${DEVICES} devices, ${CONCURRENCY} in flight, from ${ADDRESSES} loopback addresses (the default per-IP registration limit holds); one precomputed int8 update of the 2NN per device; central DP plan (z 1), first-come selection, minReports = devices.`,
    "'held-all MB' is what holding every decoded update as float32 would take: the peak RSS must stay far below it (O(parameters)).",
    `load average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} on this shared machine.`,
  ];
  const databaseUrl = process.env.FLOCK_TEST_DATABASE_URL;
  if (databaseUrl) {
    // A PostgreSQL failure (e.g. processes slow to start on a loaded machine) keeps the SQLite row and says why.
    try {
      const pg = await postgresFleet(adminKey, databaseUrl);
      try {
        rows.push(await oneRound(pg, adminKey, `fleet-pg-${Date.now().toString(36)}`));
      } finally {
        await pg.close();
      }
    } catch (error) {
      notes.push(`PostgreSQL row failed: ${(error as Error).message.split('\n')[0]}`);
    }
  } else {
    notes.push('PostgreSQL row skipped: set FLOCK_TEST_DATABASE_URL (eval "$(bash .ci/postgres.sh start)").');
  }
  for (const a of agents) a.destroy();
  return [
    {
      title: 'One round at fleet scale: register, check in, upload, close (real HTTP, real store)',
      columns: [
        'store',
        'devices',
        'register s',
        'check-in s',
        'upload s',
        'close s',
        'wall s',
        'updates/s',
        'upload p50 ms',
        'upload p99 ms',
        'RSS base MB',
        'RSS peak MB',
        'held-all MB',
        'round',
        'update KB',
      ],
      rows,
      notes,
    },
  ];
}

const bench: Benchmark = { name: 'fleet-round', run };
export default bench;
