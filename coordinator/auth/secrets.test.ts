import { describe, expect, it } from 'vitest';
import { hashSecret, newId, newSecret, parseSecret, secretMatches } from './secrets.ts';

describe('secrets', () => {
  it('round-trips owner and kind through the secret', () => {
    const id = newId('dev');
    const token = newSecret('device', id);
    expect(parseSecret(token)).toEqual({ kind: 'device', ownerId: id });
    const key = newSecret('admin', 'key_main');
    expect(parseSecret(key)).toEqual({ kind: 'admin', ownerId: 'key_main' });
  });

  it('rejects strings that are not secrets of ours', () => {
    for (const bad of [
      '',
      'Bearer x',
      'flk_dev_',
      'flk_dev_abc.short',
      'flk_root_abcd.' + 'a'.repeat(43),
      'flk_dev_a/b/c.' + 'a'.repeat(43),
    ]) {
      expect(parseSecret(bad)).toBeNull();
    }
  });

  it('matches only the exact secret against its stored hash', () => {
    const token = newSecret('device', newId('dev'));
    const stored = hashSecret(token);
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(secretMatches(token, stored)).toBe(true);
    expect(secretMatches(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'), stored)).toBe(false);
    expect(secretMatches(token, 'not-hex')).toBe(false);
  });

  it('never issues the same secret twice', () => {
    const seen = new Set(Array.from({ length: 200 }, () => newSecret('device', 'dev_same')));
    expect(seen.size).toBe(200);
  });
});
