import { describe, expect, it } from 'vitest';
import { FlockHttpError } from './federated/transport-error.ts';
import { FlockError } from './flock-error.ts';
import { firstModelError } from './first-model-error.ts';

const where = { app: 'digits', url: 'https://flock.example.com' };

describe('the error of a first start that got no model', () => {
  it('says unreachable, with the CORS flag, when a page on another origin gets no answer', () => {
    const e = firstModelError(
      new FlockHttpError(
        0,
        'network_error',
        'POST https://flock.example.com/v1/devices failed (5 attempts): Failed to fetch',
      ),
      { ...where, pageOrigin: 'https://shop.example' },
    );
    expect(e).toBeInstanceOf(FlockError);
    expect(e.code).toBe('unreachable');
    expect(e.message).toContain('flock serve --cors-origin https://shop.example');
    expect(e.message).not.toMatch(/no model/i);
  });

  it('says unreachable without a CORS hint on the same origin, and for timeouts', () => {
    const same = firstModelError(new FlockHttpError(0, 'network_error', 'connection refused'), {
      ...where,
      pageOrigin: 'https://flock.example.com',
    });
    expect(same.code).toBe('unreachable');
    expect(same.message).not.toContain('--cors-origin');
    expect(firstModelError(new FlockHttpError(0, 'timeout', 'no answer'), where).code).toBe('unreachable');
  });

  it('says no_model only when the coordinator answered that it has none', () => {
    const e = firstModelError(new FlockHttpError(404, 'not_found', 'no production model of digits'), where);
    expect(e.code).toBe('no_model');
    expect(e.message).toContain('flock model push --app digits');
  });

  it('says rejected for other refusals, and keeps a FlockError as it is', () => {
    expect(firstModelError(new FlockHttpError(429, 'rate_limited', 'slow down'), where).code).toBe('rejected');
    const integrity = new FlockError('integrity', 'tampered');
    expect(firstModelError(integrity, where)).toBe(integrity);
  });
});
