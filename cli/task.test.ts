import { serve } from '@hono/node-server';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMnistModel } from '../shared/model/index.ts';
import { TaskPlanSchema } from '../shared/protocol/index.ts';
import { createCoordinator, type Coordinator } from '../coordinator/coordinator.ts';
import { writeModelDirectory } from '../coordinator/registry/index.ts';
import { generateAdminKey } from './admin-key.ts';
import { main, type CliIo } from './index.ts';

let tmp: string;
let planPath: string;
let coordinator: Coordinator;
let server: ReturnType<typeof serve>;
let url: string;
const adminKey = generateAdminKey();

async function admin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io: CliIo & { stdout: string; stderr: string } = {
    stdout: '',
    stderr: '',
    out: (t) => {
      io.stdout += t;
    },
    err: (t) => {
      io.stderr += t;
    },
  };
  const code = await main(['node', 'flock', ...args, '--url', url, '--admin-key', adminKey], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const PLAN = {
  population: 200,
  clientsPerRound: 8,
  noiseMultiplier: 1.1,
  privacyBudget: { epsilon: 6, delta: 1e-5 },
  strategy: { name: 'fedadam' },
};

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flock-cli-task-'));
  coordinator = await createCoordinator({
    dataDir: join(tmp, 'data'),
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    aggregationBackend: 'cpu',
  });
  server = serve({ fetch: coordinator.app.fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await writeModelDirectory(createMnistModel('mlp-small', { seed: 3 }), join(tmp, 'model'));
  const pushed = await admin('model', 'push', join(tmp, 'model'), '--app', 'digits', '--json');
  if (pushed.code !== 0) throw new Error(`push failed: ${pushed.stderr}`);
  planPath = join(tmp, 'plan.json');
  await writeFile(planPath, JSON.stringify(PLAN));
}, 60_000);

afterAll(async () => {
  server?.close();
  if (server && 'closeAllConnections' in server) server.closeAllConnections();
  await coordinator?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('flock task against a running coordinator', () => {
  let taskId = '';

  it('creates a task from a plan file; the stored plan is the parsed plan', async () => {
    const { code, stdout } = await admin(
      'task',
      'create',
      '--app',
      'digits',
      '--model-version',
      '1',
      '--plan',
      planPath,
      '--name',
      'first run',
      '--json',
    );
    expect(code).toBe(0);
    const created = JSON.parse(stdout) as {
      id: string;
      status: string;
      name: string;
      plan: unknown;
      privacySpent: { epsilon: number } | null;
    };
    taskId = created.id;
    expect(created).toMatchObject({ status: 'active', name: 'first run', privacySpent: { epsilon: 0 } });
    expect(created.plan).toEqual(TaskPlanSchema.parse(PLAN));
    const stored = await coordinator.deps.store.getTask(taskId);
    expect(stored).toMatchObject({ app: 'digits', modelVersion: 1, name: 'first run', status: 'active' });
  });

  it('creates a task from inline JSON and prints a human summary', async () => {
    const { code, stdout } = await admin(
      'task',
      'create',
      '--app',
      'digits',
      '--model-version',
      '1',
      '--plan-json',
      '{"population": 50, "clientsPerRound": 5}',
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/^created task task_\S+\ntask task_\S+ {2}active\n/);
    expect(stdout).toMatch(/selection {3}5 clients\/round of 50 \(min 4 reports/);
    expect(stdout).toMatch(/name {8}digits from v1/);
    expect(stdout).toMatch(/spent - \(no central DP\)/);
  });

  it('lists both tasks, with epsilon spent against the budget', async () => {
    const { code, stdout } = await admin('task', 'list');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^id\s+app\s+version\s+status\s+rounds\s+epsilon\s+name\s+created$/);
    expect(lines).toHaveLength(3);
    const row = lines.find((l) => l.startsWith(taskId));
    expect(row?.split(/\s+/).slice(1, 6)).toEqual(['digits', '1', 'active', '0', '0/6']);
    const other = await admin('task', 'list', '--app', 'other-app', '--json');
    expect(JSON.parse(other.stdout)).toEqual([]);
  });

  it('shows one task', async () => {
    const { code, stdout } = await admin('task', 'show', taskId);
    expect(code).toBe(0);
    expect(stdout).toContain(`task ${taskId}  active`);
    expect(stdout).toMatch(/strategy fedadam/);
    expect(stdout).toMatch(/budget epsilon 6 at delta 0\.00001, spent 0/);
  });

  it('pauses and resumes; the store follows', async () => {
    const paused = await admin('task', 'pause', taskId);
    expect(paused).toMatchObject({ code: 0, stdout: `task ${taskId} is now paused\n` });
    expect((await coordinator.deps.store.getTask(taskId))!.status).toBe('paused');
    const resumed = await admin('task', 'resume', taskId, '--json');
    expect(resumed.code).toBe(0);
    expect((JSON.parse(resumed.stdout) as { status: string }).status).toBe('active');
    expect((await coordinator.deps.store.getTask(taskId))!.status).toBe('active');
  });

  it('exits 1 naming the id for rounds of a task that does not exist', async () => {
    const { code, stdout, stderr } = await admin('task', 'rounds', 'task_nope');
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: not_found: .*task_nope/);
  });

  it('lists rounds (none before any device checks in)', async () => {
    expect(await admin('task', 'rounds', taskId)).toMatchObject({
      code: 0,
      stdout: `task ${taskId} has no rounds yet; rounds open when eligible devices check in\n`,
    });
    const json = await admin('task', 'rounds', taskId, '--json');
    expect(JSON.parse(json.stdout)).toEqual([]);
  });
});

describe('flock task errors', () => {
  const create = (...extra: string[]) => admin('task', 'create', '--app', 'digits', '--model-version', '1', ...extra);

  it('--secure-aggregation flags fill plan.secureAggregation, and a strategy that needs updates in the clear is refused', async () => {
    const median = await create(
      '--plan-json',
      '{"population": 100, "clientsPerRound": 10, "strategy": {"name": "median"}}',
      '--secure-aggregation',
    );
    expect(median.code).toBe(2);
    expect(median.stderr).toMatch(/plan\.strategy\.name: strategy "median" cannot run with secureAggregation/);
    const overflow = await create(
      '--plan-json',
      '{"population": 2000, "clientsPerRound": 1000}',
      '--secure-aggregation',
      '--bits',
      '22',
    );
    expect(overflow.code).toBe(2);
    expect(overflow.stderr).toMatch(
      /plan\.secureAggregation\.bits: .*1300 selected devices \* 2\^21 >= 2\^31; use bits <= 21/,
    );
    const stray = await create('--plan-json', '{"population": 100}', '--bits', '16');
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain('--bits only apply with --secure-aggregation');
  });

  it('sends a valid secure-aggregation plan from the flags, and the coordinator makes the task', async () => {
    const { code, stdout, stderr } = await create(
      '--plan-json',
      '{"population": 100, "clientsPerRound": 10, "privacyBudget": {"epsilon": 8, "delta": 1e-5}}',
      '--secure-aggregation',
      '--bits',
      '18',
      '--min-survivors',
      '8',
      '--distributed-noise-multiplier',
      '1.2',
    );
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).not.toBe('');
    const made = (await coordinator.deps.store.listTasks()).find((t) => t.plan.secureAggregation);
    expect(made?.plan.secureAggregation).toMatchObject({ bits: 18, minSurvivors: 8, noiseMultiplier: 1.2 });
  });

  it("task rounds shows a secure round's survivors per phase, its abort reason and the epsilon charged", async () => {
    const store = coordinator.deps.store;
    const made = (await store.listTasks()).find((t) => t.plan.secureAggregation);
    if (!made) throw new Error('the secure-aggregation task of the test before is missing');
    const deadlineAt = new Date(Date.now() + 60_000).toISOString();
    const round = await store.createRound({
      taskId: made.id,
      globalVersion: 1,
      goal: 10,
      selectionLimit: 10,
      deadlineAt,
    });
    await store.putSecAggRoundStats(round.id, {
      phase: 'aborted',
      selected: 10,
      advertised: 9,
      shared: 9,
      masked: 6,
      unmasked: 0,
      abortReason: 'too_few_survivors',
      epsilonSpent: null,
    });
    const { code, stdout } = await admin('task', 'rounds', made.id);
    expect(code).toBe(0);
    const [head, row] = stdout.trim().split('\n');
    expect(head).toMatch(/secagg sel\/adv\/shr\/msk\/unm\s+abort\s+epsilon$/);
    expect(row).toMatch(/10\/9\/9\/6\/0 \(aborted\)\s+too_few_survivors\s+-$/);
    const json = JSON.parse((await admin('task', 'rounds', made.id, '--json')).stdout) as {
      secureAggregation?: unknown;
    }[];
    expect(json[0]?.secureAggregation).toMatchObject({ masked: 6, abortReason: 'too_few_survivors' });
  });

  it('exits 2 naming the plan field the schema rejects', async () => {
    const { code, stdout, stderr } = await create('--plan-json', '{"population": 3, "clientsPerRound": 10}');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /^error: --plan-json: plan\.clientsPerRound: clientsPerRound \(10\) exceeds population \(3\)/,
    );
  });

  it('names a misspelt key first', async () => {
    const { code, stderr } = await create('--plan-json', '{"populaton": 30}');
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error: --plan-json: plan: Unrecognized key: "populaton"; plan\.population: /);
  });

  it('exits 2 for a plan file that is not JSON, naming the file', async () => {
    const bad = join(tmp, 'bad-plan.json');
    await writeFile(bad, '{ population: 3 ');
    const { code, stderr } = await create('--plan', bad);
    expect(code).toBe(2);
    expect(stderr).toContain(`${bad} is not valid JSON`);
  });

  it('exits 2 for a nested bad field in a plan file', async () => {
    const bad = join(tmp, 'nested-plan.json');
    await writeFile(bad, JSON.stringify({ population: 100, strategy: { name: 'fedavg', momentum: 0.9 } }));
    const { code, stderr } = await create('--plan', bad);
    expect(code).toBe(2);
    expect(stderr).toMatch(/plan\.strategy\.momentum: momentum does not apply to strategy "fedavg"/);
  });

  it('exits 2 unless exactly one of --plan and --plan-json is given, and for a missing plan file', async () => {
    expect((await create()).code).toBe(2);
    expect((await create('--plan', planPath, '--plan-json', '{"population": 5}')).stderr).toMatch(
      /exactly one of --plan/,
    );
    expect(await create('--plan', join(tmp, 'nope.json'))).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/cannot be read/),
    });
  });

  it('exits 2 when --app or --model-version is missing or malformed', async () => {
    expect(await admin('task', 'create', '--model-version', '1', '--plan', planPath)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--app/),
    });
    expect(await admin('task', 'create', '--app', 'digits', '--model-version', '0', '--plan', planPath)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--model-version must be an integer >= 1/),
    });
  });

  it('exits 1 with the coordinator message for a model version that does not exist', async () => {
    const { code, stderr } = await admin(
      'task',
      'create',
      '--app',
      'digits',
      '--model-version',
      '9',
      '--plan',
      planPath,
    );
    expect(code).toBe(1);
    expect(stderr).toBe('error: not_found: model digits has no version 9; push one with "flock model push"\n');
  });

  it('exits 1 for an unknown task id', async () => {
    expect(await admin('task', 'pause', 'task_missing')).toMatchObject({
      code: 1,
      stderr: 'error: not_found: no task task_missing\n',
    });
  });

  it('exits 1 with "unauthorized" for a wrong admin key', async () => {
    const io: CliIo & { stderr: string } = {
      stderr: '',
      out: () => undefined,
      err: (t) => {
        io.stderr += t;
      },
    };
    const code = await main(['node', 'flock', 'task', 'list', '--url', url, '--admin-key', 'flk_admin_wrong.key'], io);
    expect(code).toBe(1);
    expect(io.stderr).toMatch(/^error: unauthorized: /);
  });
});

describe('flock status against the same coordinator', () => {
  it('says where it is, what it runs on, that the key works, and lists active tasks and production versions', async () => {
    const { code, stdout } = await admin('status');
    expect(code).toBe(0);
    expect(stdout).toMatch(
      new RegExp(
        `^coordinator ${url.replace(/[.]/g, '\\.')}: ok, flock \\S+ \\(protocol \\d+\\)\\n  store: sqlite, aggregation backend: cpu on CPU \\(JavaScript\\)\\n  admin key: accepted\\n`,
      ),
    );
    expect(stdout).toMatch(/\ndigits\s+none\n/);
    const json = JSON.parse((await admin('status', '--json')).stdout) as {
      activeTasks: { app: string }[];
      production: { app: string; version: number | null }[];
    };
    expect(json.activeTasks.length).toBeGreaterThan(0);
    expect(json.activeTasks.every((t) => t.app === 'digits')).toBe(true);
    expect(json.production).toEqual([{ app: 'digits', version: null }]);
  });

  it('exits 1 and says the key was refused', async () => {
    const io: CliIo & { stdout: string; stderr: string } = {
      stdout: '',
      stderr: '',
      out: (t) => {
        io.stdout += t;
      },
      err: (t) => {
        io.stderr += t;
      },
    };
    const code = await main(['node', 'flock', 'status', '--url', url, '--admin-key', generateAdminKey()], io);
    expect(code).toBe(1);
    expect(io.stdout).toMatch(/admin key: refused/);
    expect(io.stderr).toMatch(/^error: unauthorized/);
  });
});
