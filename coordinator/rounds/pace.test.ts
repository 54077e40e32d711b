/** Pace steering: selection limits with over-selection and jittered retry-after. */
import { describe, expect, it } from 'vitest';
import { retryAfterSeconds, selectionLimit, waitForNextRound } from './pace.ts';

describe('selectionLimit', () => {
  it('over-selects by ceil(goal * overSelection)', () => {
    expect(selectionLimit(3, 1.34)).toBe(5);
    expect(selectionLimit(10, 1.3)).toBe(13);
    expect(selectionLimit(100, 1.3)).toBe(130);
  });

  it('never selects fewer than the goal', () => {
    expect(selectionLimit(7, 1)).toBe(7);
    expect(selectionLimit(7, 0.5)).toBe(7);
  });
});

describe('retryAfterSeconds', () => {
  it('spreads symmetrically around the base by +/- jitter', () => {
    expect(retryAfterSeconds({ base: 100, jitter: 0.5, random: () => 0 })).toBe(50);
    expect(retryAfterSeconds({ base: 100, jitter: 0.5, random: () => 0.5 })).toBe(100);
    expect(retryAfterSeconds({ base: 100, jitter: 0.5, random: () => 0.999999 })).toBe(150);
    expect(retryAfterSeconds({ base: 100, jitter: 0, random: () => 0.9 })).toBe(100);
  });

  it('clamps to [min, max]', () => {
    expect(retryAfterSeconds({ base: 1, random: () => 0 })).toBe(1);
    expect(retryAfterSeconds({ base: 10, random: () => 0, min: 8 })).toBe(8);
    expect(retryAfterSeconds({ base: 10_000, random: () => 0.99 })).toBe(3600);
  });

  it('does not send a herd back at one instant', () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const waits = Array.from({ length: 200 }, () => retryAfterSeconds({ base: 60, random }));
    for (const w of waits) {
      expect(w).toBeGreaterThanOrEqual(30);
      expect(w).toBeLessThanOrEqual(90);
    }
    expect(new Set(waits).size).toBeGreaterThan(30);
  });
});

describe('waitForNextRound', () => {
  it('waits until about the deadline, within [5, 600] seconds', () => {
    expect(waitForNextRound(0, 120_000)).toBe(120);
    expect(waitForNextRound(0, 1_000)).toBe(5);
    expect(waitForNextRound(10_000, 0)).toBe(5);
    expect(waitForNextRound(0, 3_600_000)).toBe(600);
  });
});
