/**
 * Over HTTP (`app.request`, real SQLite): a task asking for secure
 * aggregation together with something that needs individual updates in the
 * clear is refused at creation with a 400 naming the conflict, a plan that
 * fits is created and keeps its secureAggregation field, and a coordinator
 * sharing its store with other processes refuses it with 501.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskPlanInput } from '../../shared/protocol/index.ts';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { inProcessRoundSignals } from '../rounds/round-signals.ts';
import { createTask, mnistModelFiles, pushModel, testAdminKey, type Fetcher } from './fleet.fixture.ts';

let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
const adminKey = testAdminKey();

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-secagg-plans-'));
  flock = await createCoordinator({ dataDir, adminKey, log: pino({ level: 'silent' }), sweep: false });
  f = async (path, init) => flock.app.request(path, init);
  expect((await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small'), 'production')).status).toBe(201);
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

const base: TaskPlanInput = { population: 1000, clientsPerRound: 20, secureAggregation: { bits: 20 } };

describe('POST /v1/admin/tasks with secureAggregation', () => {
  const refusals: Array<[string, TaskPlanInput, string, RegExp]> = [
    [
      'median',
      { ...base, strategy: { name: 'median' } },
      'strategy.name',
      /"median" cannot run with secureAggregation/,
    ],
    [
      'trimmed mean',
      { ...base, strategy: { name: 'trimmed-mean' } },
      'strategy.name',
      /"trimmed-mean" cannot run with secureAggregation: it needs every update in the clear/,
    ],
    [
      'server-side per-update norm bounding',
      { ...base, strategy: { name: 'norm-bounding' } },
      'strategy.name',
      /"norm-bounding" cannot run with secureAggregation: it bounds each update at the server/,
    ],
    [
      'central DP noise on top',
      { ...base, noiseMultiplier: 1 },
      'noiseMultiplier',
      /central noise \(noiseMultiplier 1\) does not combine with secureAggregation/,
    ],
    [
      'a top-k upload',
      { ...base, updateEncoding: { encoding: 'topk', topkFraction: 0.1 } },
      'updateEncoding.encoding',
      /"topk" does not apply under secureAggregation/,
    ],
    [
      'a bit width that could overflow',
      { ...base, clientsPerRound: 1000, overSelection: 1, secureAggregation: { bits: 23 } },
      'secureAggregation.bits',
      /1000 selected devices \* 2\^22 >= 2\^31; use bits <= 22/,
    ],
    [
      'a threshold a lying coordinator could beat',
      { ...base, secureAggregation: { neighbours: 10, threshold: 5 } },
      'secureAggregation.threshold',
      /must be in \(\(neighbours \+ colluders\) \/ 2, neighbours\]/,
    ],
    [
      'a budget without device noise',
      { ...base, privacyBudget: { epsilon: 8, delta: 1e-5 } },
      'secureAggregation.noiseMultiplier',
      /needs the devices to add noise/,
    ],
  ];

  it.each(refusals)('refuses %s with a 400 naming the conflict', async (_name, plan, path, message) => {
    const res = await createTask(f, adminKey, 'digits', 1, plan);
    expect(res.status).toBe(400);
    const body = (await res.json()) as {
      error: { code: string; details: { issues: Array<{ path: string; message: string }> } };
    };
    expect(body.error.code).toBe('validation_failed');
    const issue = body.error.details.issues.find((i) => i.path === `plan.${path}`);
    expect(issue?.message).toMatch(message);
  });

  it('refuses, once the model is known, a bit width too narrow for the rounding of its parameters', async () => {
    const res = await createTask(f, adminKey, 'digits', 1, { ...base, secureAggregation: { bits: 4 } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('validation_failed');
    expect(body.error.message).toMatch(
      /^plan\.secureAggregation: secureAggregation does not fit this model's \d+ parameters: 4 bits cannot hold the rounding and noise of 26 devices/,
    );
  });

  it('creates a task from a valid secure-aggregation plan and keeps its secureAggregation field', async () => {
    const res = await createTask(f, adminKey, 'digits', 1, {
      ...base,
      secureAggregation: { bits: 20, noiseMultiplier: 1 },
      privacyBudget: { epsilon: 8, delta: 1e-5 },
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as {
      id: string;
      plan: { secureAggregation: { bits: number; noiseMultiplier: number } };
    };
    expect(body.plan.secureAggregation).toMatchObject({ bits: 20, noiseMultiplier: 1 });
    expect((await flock.deps.store.getTask(body.id))?.plan.secureAggregation?.noiseMultiplier).toBe(1);
  });

  it('refuses it with 501 where other coordinator processes share the store (round signals), and makes no task', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flock-secagg-multi-'));
    const multi = await createCoordinator({
      dataDir: dir,
      adminKey,
      log: pino({ level: 'silent' }),
      sweep: false,
      roundSignals: inProcessRoundSignals(),
    });
    try {
      const g: Fetcher = async (path, init) => multi.app.request(path, init);
      expect((await pushModel(g, adminKey, 'digits', await mnistModelFiles('mlp-small'), 'production')).status).toBe(
        201,
      );
      const res = await createTask(g, adminKey, 'digits', 1, { ...base, secureAggregation: { bits: 20 } });
      expect(res.status).toBe(501);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('not_implemented');
      expect(body.error.message).toMatch(/secure-aggregation rounds run on a single coordinator process only/);
      expect(await multi.deps.store.listTasks()).toEqual([]);
    } finally {
      await multi.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
