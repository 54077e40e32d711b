import { describe, expect, it } from 'vitest';
import {
  CheckInRequestSchema,
  CheckInResponseSchema,
  RoundViewSchema,
  TaskCreateSchema,
  TaskViewSchema,
} from './tasks.ts';

const HASH = 'ab'.repeat(32);
const NOW = '2025-01-02T03:04:05.678Z';

describe('task creation and views', () => {
  it('parses a task with a defaulted plan', () => {
    const t = TaskCreateSchema.parse({ app: 'digits', modelVersion: 3, plan: { population: 40 } });
    expect(t.plan.clientsPerRound).toBe(10);
    expect(t.plan.minReports).toBe(8);
    expect(t.name).toBeUndefined();
  });

  it('refuses a missing plan, a version 0, an invalid nested plan and unknown keys', () => {
    expect(TaskCreateSchema.safeParse({ app: 'digits', modelVersion: 3 }).success).toBe(false);
    expect(TaskCreateSchema.safeParse({ app: 'digits', modelVersion: 0, plan: { population: 4 } }).success).toBe(false);
    const nested = TaskCreateSchema.safeParse({
      app: 'digits',
      modelVersion: 1,
      plan: { population: 40, minReports: 11 },
    });
    expect(nested.error?.issues[0].path).toEqual(['plan', 'minReports']);
    expect(
      TaskCreateSchema.safeParse({ app: 'digits', modelVersion: 1, plan: { population: 4 }, owner: 'x' }).success,
    ).toBe(false);
  });

  it('parses task and round views, nullable fields included', () => {
    const round = {
      id: 'r1',
      taskId: 't1',
      roundNumber: 1,
      state: 'open',
      globalVersion: 3,
      openedAt: NOW,
      deadlineAt: NOW,
      closedAt: null,
      selected: 13,
      reports: 2,
      resultVersion: null,
      failureReason: null,
    };
    expect(RoundViewSchema.parse(round)).toEqual(round);
    expect(RoundViewSchema.safeParse({ ...round, state: 'running' }).success).toBe(false);
    const view = {
      id: 't1',
      app: 'digits',
      name: null,
      modelVersion: 3,
      plan: { population: 40 },
      status: 'active',
      createdAt: NOW,
      roundsCompleted: 0,
      currentRound: round,
      privacySpent: null,
    };
    expect(TaskViewSchema.parse(view).plan.minReports).toBe(8);
    expect(TaskViewSchema.safeParse({ ...view, createdAt: 'yesterday' }).success).toBe(false);
  });
});

describe('check-in', () => {
  it('validates the request', () => {
    expect(CheckInRequestSchema.safeParse({ deviceId: 'd1', taskId: 't1', numExamples: 0 }).success).toBe(true);
    expect(CheckInRequestSchema.safeParse({ deviceId: 'd1', taskId: 't1', numExamples: -1 }).success).toBe(false);
    expect(CheckInRequestSchema.safeParse({ deviceId: 'd1', taskId: 't1', numExamples: 1.5 }).success).toBe(false);
    expect(CheckInRequestSchema.safeParse({ deviceId: 'd1', numExamples: 4 }).success).toBe(false);
  });

  const selected = {
    status: 'selected',
    roundId: 'r1',
    taskId: 't1',
    roundNumber: 2,
    plan: { population: 40, clientsPerRound: 4 },
    globalVersion: 5,
    globalWeights: { hash: HASH, size: 1024, encoding: 'fp32' },
    deadlineAt: NOW,
  };

  it('discriminates selected from retry and fills the plan defaults', () => {
    const s = CheckInResponseSchema.parse(selected);
    expect(s.status).toBe('selected');
    if (s.status === 'selected') expect(s.plan.minReports).toBe(4);
    const r = CheckInResponseSchema.parse({ status: 'retry', retryAfterSeconds: 37.5, reason: 'round_full' });
    expect(r).toEqual({ status: 'retry', retryAfterSeconds: 37.5, reason: 'round_full' });
  });

  it('refuses an unknown status, an unknown retry reason, bad hashes and non-ISO deadlines', () => {
    expect(CheckInResponseSchema.safeParse({ status: 'maybe' }).success).toBe(false);
    expect(CheckInResponseSchema.safeParse({ status: 'retry', retryAfterSeconds: 5, reason: 'bored' }).success).toBe(
      false,
    );
    expect(
      CheckInResponseSchema.safeParse({ status: 'retry', retryAfterSeconds: -1, reason: 'round_full' }).success,
    ).toBe(false);
    expect(
      CheckInResponseSchema.safeParse({
        ...selected,
        globalWeights: { ...selected.globalWeights, hash: HASH.toUpperCase() },
      }).success,
    ).toBe(false);
    expect(
      CheckInResponseSchema.safeParse({ ...selected, globalWeights: { ...selected.globalWeights, encoding: 'topk' } })
        .success,
    ).toBe(false);
    expect(CheckInResponseSchema.safeParse({ ...selected, deadlineAt: '2025-01-02 03:04' }).success).toBe(false);
    expect(CheckInResponseSchema.safeParse({ ...selected, roundId: undefined }).success).toBe(false);
  });
});
