import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import {
  createTask,
  mnistModelFiles,
  pushModel,
  registerDevice,
  type Fetcher,
} from '../../coordinator/routes/fleet.fixture.ts';
import { createMemoryStore } from '../storage/index.ts';
import { runBackgroundRound } from './background-round.ts';

const BASE = 'http://flock.test';

describe('runBackgroundRound against a real coordinator', () => {
  let coordinator: Coordinator;
  let dataDir: string;
  let f: Fetcher;
  let fetchVia: typeof fetch;
  let pausedTask: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'flock-bg-round-'));
    coordinator = await createCoordinator({ dataDir, log: pino({ level: 'silent' }), sweep: false });
    fetchVia = (input, init) => Promise.resolve(coordinator.app.fetch(new Request(input, init)));
    f = (path, init) => fetchVia(BASE + path, init);
    const admin = coordinator.initialAdminKey ?? '';
    expect((await pushModel(f, admin, 'digits', await mnistModelFiles('mlp-small'), 'production')).status).toBe(201);
    const task = await createTask(f, admin, 'digits', 1, { population: 1, clientsPerRound: 1, minReports: 1 });
    pausedTask = ((await task.json()) as { id: string }).id;
    expect(
      (
        await f(`/v1/admin/tasks/${pausedTask}/pause`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}` },
        })
      ).status,
    ).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await coordinator?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const deviceStore = async (examples: number) => {
    const store = createMemoryStore();
    const device = await registerDevice(f, 'digits');
    await store.putDevice({ app: 'digits', ...device });
    for (let i = 0; i < examples; i++) await store.addExample('digits', new Float32Array(784).fill(i / 10), i % 10);
    return store;
  };

  it('ends a turn at once when the coordinator says retry, and reports a check-in refusal per task', async () => {
    const store = await deviceStore(3);
    const started = Date.now();
    const outcomes = await runBackgroundRound({
      url: BASE,
      app: 'digits',
      tasks: [pausedTask],
      store,
      backend: 'cpu',
      fetch: fetchVia,
      timeCapMs: 20_000,
    });
    expect(outcomes).toEqual([{ taskId: pausedTask, status: 'not-selected', retryAfterSeconds: expect.any(Number) }]);
    expect(Date.now() - started).toBeLessThan(10_000); // not the cap
    const unknown = await runBackgroundRound({
      url: BASE,
      app: 'digits',
      tasks: ['task_nope'],
      store,
      backend: 'cpu',
      fetch: fetchVia,
      timeCapMs: 20_000,
    });
    expect(unknown).toMatchObject([{ taskId: 'task_nope', status: 'failed' }]);
    expect(await store.countOutbox()).toMatchObject({ update: 0 });
  }, 30_000);

  it('checks in with the examples it holds, which the coordinator keeps with its selection', async () => {
    const admin = coordinator.initialAdminKey ?? '';
    const created = await createTask(f, admin, 'digits', 1, {
      population: 1,
      clientsPerRound: 1,
      minReports: 1,
      overSelection: 1,
      minExamples: 5,
    });
    const taskId = ((await created.json()) as { id: string }).id;
    const store = await deviceStore(12);
    // This store holds no model, so the turn ends after the check-in, without training.
    const [outcome] = await runBackgroundRound({
      url: BASE,
      app: 'digits',
      tasks: [taskId],
      store,
      backend: 'cpu',
      fetch: fetchVia,
      timeCapMs: 20_000,
    });
    expect(outcome).toMatchObject({ taskId, roundId: expect.any(String) });
    const participants = await coordinator.deps.store.listParticipants((outcome as { roundId: string }).roundId);
    expect(participants.map((p) => p.declaredExamples)).toEqual([12]);
  }, 30_000);

  it('does not check in without examples, and explains a missing device', async () => {
    const store = await deviceStore(0);
    expect(await runBackgroundRound({ url: BASE, app: 'digits', tasks: [pausedTask], store, fetch: fetchVia })).toEqual(
      [{ taskId: pausedTask, status: 'no-examples' }],
    );
    await expect(
      runBackgroundRound({
        url: BASE,
        app: 'digits',
        tasks: [pausedTask],
        store: createMemoryStore(),
        fetch: fetchVia,
      }),
    ).rejects.toThrow(/open the app online once/);
  });
});
