/**
 * The SQLite store's per-upload query work with prepared statements cached
 * (the default) against the same store preparing every query afresh
 * (`statementCacheSize: 0`, which is what Kysely's SQLite driver does on its
 * own). Each "upload" is the store calls `RoundService.upload` makes: round,
 * task, first-receipt and participant lookups, then the `recordUpdate`
 * transaction (three selects, two updates, one insert, commit). Both stores
 * live in temp dirs on the same disk, with the production durability setting
 * (`synchronous = FULL`), and are run in alternating blocks so drift on this
 * shared machine hits both alike.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSecret } from '../../coordinator/auth/secrets.ts';
import { openSqliteStore } from '../../coordinator/store/sqlite-store.ts';
import type { Store } from '../../coordinator/store/store.ts';
import { median, type Benchmark, type BenchTable } from './bench-types.ts';
import { TaskPlanSchema } from '../../shared/protocol/index.ts';

const DEVICES_PER_BLOCK = 400;
const BLOCKS = 5;

interface Fixture {
  store: Store;
  dir: string;
  roundId: string;
  taskId: string;
  blobHash: string;
  next: number;
}

async function fixture(statementCacheSize: number | undefined): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'flock-stmt-bench-'));
  const store = await openSqliteStore({ dataDir: dir, statementCacheSize });
  const devices = DEVICES_PER_BLOCK * (BLOCKS + 1);
  await store.transaction(async (tx) => {
    for (let i = 0; i < devices; i++)
      await tx.createDevice({ deviceId: `d${i}`, app: 'digits', tokenHash: hashSecret(`t${i}`) });
  });
  await store.createModelVersion({
    app: 'digits',
    source: 'push',
    topology: {},
    weightSpecs: [{ name: 'w', shape: [2] }],
    variants: [],
  });
  const task = await store.createTask({
    app: 'digits',
    name: 'mnist',
    modelVersion: 1,
    plan: TaskPlanSchema.parse({ population: 10 }),
    budget: { epsilon: 4, delta: 1e-5 },
  });
  const round = await store.createRound({
    taskId: task.id,
    globalVersion: 1,
    goal: devices,
    selectionLimit: devices,
    deadlineAt: new Date(Date.now() + 3_600_000).toISOString(),
  });
  for (let i = 0; i < devices; i++) await store.claimSlot(round.id, `d${i}`);
  const blob = await store.blobs.put(new Uint8Array(64));
  return { store, dir, roundId: round.id, taskId: task.id, blobHash: blob.hash, next: 0 };
}

/** One block of uploads' store work; returns ms per upload. */
async function block(f: Fixture): Promise<number> {
  const started = performance.now();
  for (let k = 0; k < DEVICES_PER_BLOCK; k++) {
    const deviceId = `d${f.next++}`;
    await f.store.getRound(f.roundId);
    await f.store.getTask(f.taskId);
    await f.store.getUpdate(f.roundId, deviceId);
    await f.store.getParticipant(f.roundId, deviceId);
    const r = await f.store.recordUpdate({
      roundId: f.roundId,
      deviceId,
      blobHash: f.blobHash,
      byteLength: 64,
      numExamples: 10,
      meta: { k },
    });
    if (r.outcome !== 'accepted') throw new Error(`upload ${deviceId} was ${r.outcome}`);
  }
  return (performance.now() - started) / DEVICES_PER_BLOCK;
}

async function run(): Promise<BenchTable[]> {
  const cached = await fixture(undefined);
  const fresh = await fixture(0);
  try {
    await block(cached); // warm-up block each
    await block(fresh);
    const ms = { cached: [] as number[], fresh: [] as number[] };
    for (let b = 0; b < BLOCKS; b++) {
      if (b % 2 === 0) {
        ms.cached.push(await block(cached));
        ms.fresh.push(await block(fresh));
      } else {
        ms.fresh.push(await block(fresh));
        ms.cached.push(await block(cached));
      }
    }
    const base = median(ms.fresh);
    const row = (variant: string, list: number[]) => ({
      variant,
      'ms per upload': median(list),
      'uploads/s (store only)': 1000 / median(list),
      'speed vs prepare-every-query': base / median(list),
    });
    return [
      {
        title: 'SQLite store work per update upload: cached prepared statements vs prepare per query',
        columns: ['variant', 'ms per upload', 'uploads/s (store only)', 'speed vs prepare-every-query'],
        rows: [
          row('prepare every query (Kysely default, baseline)', ms.fresh),
          row('cached statements (Flock default)', ms.cached),
        ],
        notes: [
          `${BLOCKS} alternating blocks of ${DEVICES_PER_BLOCK} uploads per store after one warm-up block; medians of the blocks`,
          'per upload: getRound, getTask, getUpdate, getParticipant, recordUpdate (a BEGIN IMMEDIATE transaction), synchronous = FULL, WAL',
          'the commit fsync is in both rows; the difference is SQLite parse/plan per statement',
        ],
      },
    ];
  } finally {
    for (const f of [cached, fresh]) {
      await f.store.close();
      await rm(f.dir, { recursive: true, force: true });
    }
  }
}

const bench: Benchmark = { name: 'store-statements', run };
export default bench;
