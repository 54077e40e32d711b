/**
 * Update ingestion on PostgreSQL with 1 to 4 `flock serve` processes behind
 * the same round-robin proxy (loopback), so an operator can size a
 * deployment: updates/s and p50/p99 latency of `PUT /v1/rounds/:id/updates`
 * for fp32 updates of the MNIST mlp-small model at a fixed concurrency.
 *
 * The database's share: the same store calls an upload makes (reads of
 * round, task, update, participant and version, the blob put in bytea, the
 * recordUpdate transaction) timed in this process at the same concurrency,
 * against the HTTP time per update.
 *
 * Closing: the round the HTTP uploads went to is closed through the admin
 * API (its sum comes from the closer's own accumulator and the partial sums
 * the other processes flush), side by side with a round of as many updates
 * written straight to the store (every update read back from storage: what
 * a closer does for a crashed process's share). Skipped, with a note, when
 * FLOCK_TEST_DATABASE_URL is unset (start a cluster with .ci/postgres.sh).
 */
import { hashSecret, newId, newSecret } from '../../coordinator/auth/secrets.ts';
import {
  checkIn,
  createTask,
  deltaTensors,
  encodeUpdate,
  httpFetcher,
  mnistModelFiles,
  pushModel,
  putUpdate,
  testAdminKey,
  updateMeta,
  type FleetDevice,
} from '../../coordinator/routes/fleet.fixture.ts';
import { openPostgresStore } from '../../coordinator/store/postgres-store.ts';
import { decodeTensors } from '../../shared/codec/index.ts';
import type { CheckInSelected } from '../../shared/protocol/index.ts';
import { startCoordinatorProcess, startRoundRobinProxy } from '../pg/coordinator-processes.ts';
import { createTestDatabase, NO_POSTGRES, TEST_DATABASE_URL } from '../pg/test-database.ts';
import type { BenchTable, Benchmark } from './bench-types.ts';

const UPDATES = 120;
const CONCURRENCY = 16;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Runs `jobs` with at most CONCURRENCY in flight; returns each job's latency (ms) and the wall time. */
async function bounded(jobs: Array<() => Promise<void>>): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        const t = performance.now();
        await job();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), wallMs: performance.now() - start };
}

interface Measured {
  updatesPerSecond: number;
  p50: number;
  p99: number;
  perUpdateMs: number;
}

function summarize(r: { latencies: number[]; wallMs: number }): Measured {
  return {
    updatesPerSecond: (r.latencies.length / r.wallMs) * 1000,
    p50: quantile(r.latencies, 0.5),
    p99: quantile(r.latencies, 0.99),
    perUpdateMs: r.wallMs / r.latencies.length,
  };
}

interface Closed {
  ms: number;
  metrics: Record<string, unknown>;
}

/** Ingests UPDATES updates through `processes` coordinators; also times the bare store calls on the same database, and both rounds' close. */
async function ingest(
  processes: number,
): Promise<{ http: Measured; store: Measured; closeFolded: Closed; closeStored: Closed }> {
  const adminKey = testAdminKey();
  const admin = { authorization: `Bearer ${adminKey}` };
  const db = await createTestDatabase(`bench${processes}`);
  const procs = await Promise.all(
    Array.from({ length: processes }, () => startCoordinatorProcess({ databaseUrl: db.url, adminKey, poolSize: 10 })),
  );
  const proxy = await startRoundRobinProxy(procs.map((p) => p.port));
  const store = await openPostgresStore({ connectionString: db.url, poolSize: 10 });
  try {
    const f = httpFetcher(proxy.base);
    const pushed = await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small', 3), 'production');
    if (pushed.status !== 201) throw new Error(`model push answered ${pushed.status}: ${await pushed.text()}`);
    const v1 = (await (await f('/v1/admin/models/digits/versions/1', { headers: admin })).json()) as {
      variants: Array<{ encoding: string; sha256: string }>;
    };
    const fp32 = v1.variants.find((v) => v.encoding === 'fp32')!.sha256;
    const specs = decodeTensors(
      new Uint8Array(await (await f(`/v1/blobs/${fp32}`, { headers: admin })).arrayBuffer()),
    ).map((t) => ({ name: t.name, shape: t.shape }));
    // Goal above the number of uploads: the rounds stay open until closed (and timed) below.
    const plan = {
      population: 10_000,
      clientsPerRound: 2 * UPDATES,
      minReports: 1,
      overSelection: 1,
      roundDeadlineSeconds: 3600,
      clipNorm: 1,
    };
    const taskIds: string[] = [];
    for (let t = 0; t < 2; t++)
      taskIds.push(((await (await createTask(f, adminKey, 'digits', 1, plan)).json()) as { id: string }).id);

    // Registered through the store: the per-IP registration limit is not what is measured.
    const devices: FleetDevice[] = [];
    await store.transaction(async (tx) => {
      for (let i = 0; i < 2 * UPDATES; i++) {
        const deviceId = newId('dev');
        const token = newSecret('device', deviceId);
        await tx.createDevice({ deviceId, app: 'digits', tokenHash: hashSecret(token) });
        devices.push({ deviceId, token });
      }
    });
    // The first half uploads over HTTP into task 0's round, the second half straight into task 1's.
    const roundIds = ['', ''];
    await bounded(
      devices.map((d, k) => async () => {
        const task = k < UPDATES ? 0 : 1;
        const answer = await checkIn(f, d, taskIds[task]);
        if (answer.body.status !== 'selected')
          throw new Error(`every bench device should be selected, got ${JSON.stringify(answer.body)}`);
        roundIds[task] = (answer.body as CheckInSelected).roundId;
      }),
    );
    const roundId = roundIds[0];
    const bodies = devices.map((_, k) => encodeUpdate(deltaTensors(specs, (t, i) => 1e-4 * (((i + t + k) % 7) - 3))));
    const meta = (k: number) => JSON.stringify(updateMeta(roundIds[0], devices[k].deviceId, { numExamples: 10 + k }));

    const http = await bounded(
      devices.slice(0, UPDATES).map((d, k) => async () => {
        const res = await putUpdate(f, d.token, roundId, bodies[k], meta(k));
        if (res.status !== 200) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
      }),
    );

    // The same store calls an upload makes, for the other half of the devices, without HTTP or validation.
    const round = (await store.getRound(roundIds[1]))!;
    const bare = await bounded(
      devices.slice(UPDATES).map((d, j) => async () => {
        const k = UPDATES + j;
        await store.getRound(round.id);
        await store.getTask(round.taskId);
        await store.getUpdate(round.id, d.deviceId);
        await store.getParticipant(round.id, d.deviceId);
        await store.getModelVersion('digits', round.globalVersion);
        const blob = await store.blobs.put(bodies[k]);
        const r = await store.recordUpdate({
          roundId: round.id,
          deviceId: d.deviceId,
          blobHash: blob.hash,
          byteLength: blob.size,
          numExamples: 10 + k,
        });
        if (r.outcome !== 'accepted') throw new Error(`recordUpdate: ${r.outcome}`);
      }),
    );
    const close = async (task: number): Promise<Closed> => {
      const t = performance.now();
      const res = await f(`/v1/admin/rounds/${roundIds[task]}/close`, { method: 'POST', headers: admin });
      const view = (await res.json()) as { state: string };
      const ms = performance.now() - t;
      if (res.status !== 200 || view.state !== 'closed')
        throw new Error(`closing round ${task} answered ${res.status}: ${JSON.stringify(view)}`);
      const { rounds } = (await (await f(`/v1/admin/tasks/${taskIds[task]}/rounds`, { headers: admin })).json()) as {
        rounds: { metrics: Record<string, unknown> }[];
      };
      return { ms, metrics: rounds[0].metrics };
    };
    return { http: summarize(http), store: summarize(bare), closeFolded: await close(0), closeStored: await close(1) };
  } finally {
    await store.close();
    await proxy.close();
    for (const p of procs) {
      p.child.kill('SIGTERM');
      await p.exited;
    }
    await db.drop();
  }
}

const bench: Benchmark = {
  name: 'multi-process',
  async run(): Promise<BenchTable[]> {
    const columns = ['setup', 'updates/s', 'p50 ms', 'p99 ms', 'ratio (updates/s vs 1 process)', 'store share of time'];
    if (!TEST_DATABASE_URL) {
      console.warn(`[skipped] multi-process bench: ${NO_POSTGRES}`);
      return [
        {
          title: 'Ingestion on PostgreSQL, 1 to 4 processes (skipped)',
          columns,
          rows: [],
          notes: [`skipped: ${NO_POSTGRES}`],
        },
      ];
    }
    const counts = [1, 2, 3, 4];
    const runs: Array<{ n: number } & Awaited<ReturnType<typeof ingest>>> = [];
    for (const n of counts) runs.push({ n, ...(await ingest(n)) });
    const one = runs[0];
    const row = (setup: string, m: Measured, storeMs: number | null) => ({
      setup,
      'updates/s': Number(m.updatesPerSecond.toFixed(1)),
      'p50 ms': Number(m.p50.toFixed(1)),
      'p99 ms': Number(m.p99.toFixed(1)),
      'ratio (updates/s vs 1 process)': Number((m.updatesPerSecond / one.http.updatesPerSecond).toFixed(2)),
      'store share of time': storeMs === null ? null : `${Math.round((100 * storeMs) / m.perUpdateMs)}%`,
    });
    const closeRow = (r: (typeof runs)[number]) => ({
      processes: r.n,
      'close, own sum + partials (ms)': Math.round(r.closeFolded.ms),
      'own / partials / storage': `${String(r.closeFolded.metrics.fromOwnFold)} / ${String(r.closeFolded.metrics.fromPartials)} / ${String(r.closeFolded.metrics.fromStorage)}`,
      'close, all from storage (ms)': Math.round(r.closeStored.ms),
      'ratio (storage / partials)': Number((r.closeStored.ms / r.closeFolded.ms).toFixed(2)),
    });
    return [
      {
        title: `Update ingestion on PostgreSQL: ${UPDATES} fp32 mlp-small updates (50,890 parameters, 204 KB each), ${CONCURRENCY} in flight, via a round-robin proxy`,
        columns,
        rows: [
          ...runs.map((r) => row(`HTTP, ${r.n} process${r.n > 1 ? 'es' : ''}`, r.http, r.store.perUpdateMs)),
          ...runs.map((r) => row(`store calls only (same DB work, no HTTP/validation), run ${r.n}`, r.store, null)),
        ],
        notes: [
          'One 2-core machine runs the coordinators, PostgreSQL (fsync off: a throwaway test cluster), the proxy and the load generator: no speed-up from more processes is expected here; the rows show the cost of spreading over processes, not the gain on real hardware.',
          'store share = wall time per update of the bare store calls (same sequence an upload makes, same concurrency, same database) / wall time per update over HTTP.',
          'Each upload: 7 store round trips (5 reads, a bytea insert of the update, the recordUpdate transaction). Size a deployment from updates/s per process and the store share: the database is the shared part.',
        ],
      },
      {
        title: `Closing a round of ${UPDATES} updates on PostgreSQL: flushed partial sums vs reading every update from storage`,
        columns: [
          'processes',
          'close, own sum + partials (ms)',
          'own / partials / storage',
          'close, all from storage (ms)',
          'ratio (storage / partials)',
        ],
        rows: runs.map(closeRow),
        notes: [
          'Both closes run through the admin API on the same processes and database, one after the other. The partials close includes waiting for the other live processes to flush (NOTIFY, a blob and a row each); the storage close reads and decodes every update blob from bytea, which is what a closer does for the share of a process that crashed.',
        ],
      },
    ];
  },
};

export default bench;
