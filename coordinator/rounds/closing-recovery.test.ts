/**
 * Who recovers a round a crash left in 'closing': alone on its store (no
 * round signals) a process takes it over at the next sweep; with round
 * signals another process may be closing it, so only after RECOVERY_GRACE_MS
 * past its deadline. Decided by the signals given, never by the store's kind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaskPlanSchema } from '../../shared/protocol/index.ts';
import { ensureSigningKey } from '../auth/bootstrap.ts';
import { manualClock } from '../clock.ts';
import { createMetrics } from '../observability/metrics.ts';
import { openSqliteStore, type Store } from '../store/index.ts';
import { inProcessRoundSignals } from './round-signals.ts';
import { RECOVERY_GRACE_MS, RoundService, type RoundServiceOptions } from './service.ts';

let dir: string;
let store: Store;
const clock = manualClock(Date.parse('2026-03-01T12:00:00.000Z'));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flock-closing-recovery-'));
  store = await openSqliteStore({ dataDir: dir, now: () => new Date(clock.now()) });
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A round whose closer crashed: 'closing', its deadline 1 s ago, no updates. */
async function crashedWhileClosing(): Promise<string> {
  await store.createModelVersion({ app: 'digits', source: 'push', topology: {}, weightSpecs: [], variants: [] });
  const task = await store.createTask({
    app: 'digits',
    name: 't',
    modelVersion: 1,
    plan: TaskPlanSchema.parse({ population: 10, clientsPerRound: 2, minReports: 1 }),
    budget: { epsilon: 1, delta: 1e-5 },
  });
  const round = await store.createRound({
    taskId: task.id,
    globalVersion: 1,
    goal: 2,
    selectionLimit: 2,
    deadlineAt: new Date(clock.now() - 1000).toISOString(),
  });
  expect(await store.beginClosing(round.id)).toBe(true);
  return round.id;
}

async function service(extra: Partial<RoundServiceOptions>): Promise<RoundService> {
  return new RoundService({
    store,
    log: pino({ level: 'silent' }),
    metrics: createMetrics(),
    signing: await ensureSigningKey(store, join(dir, 'signing.json')),
    sweepIntervalMs: 1000,
    now: () => clock.now(),
    ...extra,
  });
}

describe('a round left closing by a crash', () => {
  it('is recovered at the next sweep by a process alone on its store', async () => {
    const roundId = await crashedWhileClosing();
    const rounds = await service({});
    await rounds.sweep();
    expect((await store.getRound(roundId))?.status).toBe('failed');
    await rounds.stop();
  });

  it('is left to its closer while other processes may exist, and taken over after the grace', async () => {
    const roundId = await crashedWhileClosing();
    const signals = inProcessRoundSignals();
    const rounds = await service({ signals });
    await rounds.sweep();
    expect((await store.getRound(roundId))?.status).toBe('closing');
    clock.advance(RECOVERY_GRACE_MS);
    await rounds.sweep();
    expect((await store.getRound(roundId))?.status).toBe('failed');
    await rounds.stop();
    await signals.close();
  });
});
