import { describe, expect, it } from 'vitest';
import { ERROR_STATUS, isErrorBody } from './errors.ts';
import { parseMessage, validationErrorBody } from './parse.ts';
import { TaskCreateSchema } from './tasks.ts';

describe('parseMessage', () => {
  it('returns the parsed value with defaults on success', () => {
    const r = parseMessage(TaskCreateSchema, { app: 'digits', modelVersion: 1, plan: { population: 20 } });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.plan.overSelection).toBe(1.3);
  });

  it('returns a sendable validation_failed body listing every issue with dotted paths', () => {
    const r = parseMessage(TaskCreateSchema, {
      app: 'Bad App',
      modelVersion: 1,
      plan: { population: 20, clientsPerRound: 5, minReports: 9 },
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(isErrorBody(r.error)).toBe(true);
    expect(r.error.error.code).toBe('validation_failed');
    expect(ERROR_STATUS[r.error.error.code]).toBe(400);
    const issues = (r.error.error.details as { issues: Array<{ path: string }> }).issues;
    expect(issues.map((i) => i.path).sort()).toEqual(['app', 'plan.minReports']);
    expect(r.error.error.message).toMatch(/^(app|plan\.minReports): .*\(and 1 more issue\)$/);
  });

  it('handles non-object input', () => {
    const r = parseMessage(TaskCreateSchema, 'hello');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.error.message.length).toBeGreaterThan(0);
  });

  it('builds the same body from a ZodError handed over by another validator', () => {
    const input = { app: 'digits', modelVersion: -1, plan: { population: 20 } };
    const zodError = TaskCreateSchema.safeParse(input).error;
    expect(zodError).toBeDefined();
    const r = parseMessage(TaskCreateSchema, input);
    expect(r.ok).toBe(false);
    if (!r.ok && zodError) expect(validationErrorBody(zodError)).toEqual(r.error);
    if (zodError) expect(validationErrorBody(zodError).error.message).toMatch(/^modelVersion: /);
  });
});
