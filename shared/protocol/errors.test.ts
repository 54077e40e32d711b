import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_STATUS, errorBody, isErrorBody } from './errors.ts';

describe('error shape', () => {
  it('maps every code to a 4xx/5xx status, and the codes the coordinator relies on to the right one', () => {
    for (const code of ERROR_CODES) {
      expect(ERROR_STATUS[code], code).toBeGreaterThanOrEqual(400);
      expect(ERROR_STATUS[code], code).toBeLessThan(600);
    }
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...ERROR_CODES].sort());
    expect(ERROR_STATUS.validation_failed).toBe(400);
    expect(ERROR_STATUS.unauthorized).toBe(401);
    expect(ERROR_STATUS.not_selected).toBe(403);
    expect(ERROR_STATUS.round_not_found).toBe(404);
    expect(ERROR_STATUS.late_upload).toBe(409);
    expect(ERROR_STATUS.payload_too_large).toBe(413);
    expect(ERROR_STATUS.non_finite).toBe(422);
    expect(ERROR_STATUS.rate_limited).toBe(429);
    expect(ERROR_STATUS.internal).toBe(500);
  });

  it('builds bodies that the guard accepts, with and without details', () => {
    const plain = errorBody('late_upload', 'round closed');
    expect(plain).toEqual({ error: { code: 'late_upload', message: 'round closed' } });
    expect('details' in plain.error).toBe(false);
    expect(isErrorBody(plain)).toBe(true);
    const detailed = errorBody('norm_exceeded', 'too big', { norm: 3.2, clipNorm: 1 });
    expect(isErrorBody(detailed)).toBe(true);
    expect(isErrorBody(JSON.parse(JSON.stringify(detailed)))).toBe(true);
  });

  it('rejects look-alikes: unknown code, missing message, flat shape, non-objects', () => {
    expect(isErrorBody({ error: { code: 'teapot', message: 'x' } })).toBe(false);
    expect(isErrorBody({ error: { code: 'internal' } })).toBe(false);
    expect(isErrorBody({ code: 'internal', message: 'x' })).toBe(false);
    expect(isErrorBody({ error: 'internal' })).toBe(false);
    expect(isErrorBody(null)).toBe(false);
    expect(isErrorBody('internal')).toBe(false);
  });
});
