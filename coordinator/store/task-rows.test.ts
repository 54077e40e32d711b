import { describe, expect, it } from 'vitest';
import { TaskPlanSchema } from '../../shared/protocol/index.ts';
import { isStoreError } from './errors.ts';
import { toTask } from './rows.ts';

const row = (plan: string) => ({
  id: 'task_1',
  app: 'digits',
  name: 't',
  model_version: 1,
  current_version: 1,
  plan,
  status: 'active',
  budget_epsilon: 1,
  budget_delta: 1e-5,
  accountant: '{}',
  epsilon_spent: 0,
  optimizer_state_hash: null,
  clip_norm: null,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
});

describe('a task row', () => {
  it('comes back with its plan parsed once, defaults filled', () => {
    const task = toTask(row(JSON.stringify({ population: 50, clientsPerRound: 5 })));
    expect(task.plan).toEqual(TaskPlanSchema.parse({ population: 50, clientsPerRound: 5 }));
    expect(task.plan.minReports).toBe(4);
  });

  it('whose stored plan no longer parses is a StoreError naming the task and the field', () => {
    let error: unknown;
    try {
      toTask(row(JSON.stringify({ population: 50, clientsPerRound: -1 })));
    } catch (e) {
      error = e;
    }
    expect(isStoreError(error, 'io')).toBe(true);
    expect((error as Error).message).toMatch(/task_1.*clientsPerRound/);
  });
});
