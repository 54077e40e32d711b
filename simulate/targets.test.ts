import { describe, expect, it } from 'vitest';
import { bestSoFar, roundsToTarget } from './targets.ts';

const pts = (accs: number[]) => accs.map((accuracy, round) => ({ round, accuracy }));

describe('roundsToTarget', () => {
  it('interpolates linearly between the last round below and the first at or above', () => {
    expect(roundsToTarget(pts([0.1, 0.9, 0.98]), 0.97)).toBeCloseTo(1 + 0.07 / 0.08, 10);
  });

  it('returns the exact round when a round hits the target exactly', () => {
    expect(roundsToTarget(pts([0.5, 0.8, 0.97, 0.99]), 0.97)).toBe(2);
  });

  it('uses the best-so-far curve, so a dip does not delay and a later recovery does not count twice', () => {
    // Round 2 dips; best-so-far stays 0.96 until round 3 reaches 0.98.
    expect(roundsToTarget(pts([0.5, 0.96, 0.7, 0.98]), 0.97)).toBeCloseTo(2.5, 10);
  });

  it('returns null when never reached and the first round when already there', () => {
    expect(roundsToTarget(pts([0.1, 0.5, 0.96]), 0.97)).toBeNull();
    expect(roundsToTarget(pts([0.99, 0.5]), 0.97)).toBe(0);
  });

  it('handles unsorted input', () => {
    expect(
      roundsToTarget(
        [
          { round: 2, accuracy: 0.98 },
          { round: 1, accuracy: 0.9 },
        ],
        0.97,
      ),
    ).toBeCloseTo(1.875, 10);
  });
});

describe('bestSoFar', () => {
  it('is the running maximum', () => {
    expect(bestSoFar(pts([0.2, 0.5, 0.4, 0.6])).map((p) => p.accuracy)).toEqual([0.2, 0.5, 0.5, 0.6]);
  });
});
