import { describe, expect, it } from 'vitest';
import { parseDurationFlag } from './duration.ts';

describe('durations on the command line', () => {
  it('reads a number with a unit', () => {
    expect(parseDurationFlag('--x', '30d')).toBe(30 * 86_400_000);
    expect(parseDurationFlag('--x', '1.5h')).toBe(5_400_000);
    expect(parseDurationFlag('--x', '2w')).toBe(14 * 86_400_000);
  });
  it('refuses what has no unit or is too short, naming the flag', () => {
    expect(() => parseDurationFlag('--x', '30')).toThrow(/--x must be a number with a unit/);
    expect(() => parseDurationFlag('--x', '10s')).toThrow(/--x must be at least 60 s/);
  });
});
