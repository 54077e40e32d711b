/**
 * Rounds to a target accuracy, measured the way McMahan et al. 2017 do: on
 * the best-so-far accuracy curve (a monotone envelope, so one lucky or
 * unlucky round does not decide it), with linear interpolation between the
 * last round below the target and the first at or above it.
 */

/** Accuracy of the global model after `round` rounds (round 0 = the initial model). */
export interface AccuracyPoint {
  round: number;
  accuracy: number;
}

/** The running maximum of the accuracies, in round order. */
export function bestSoFar(points: readonly AccuracyPoint[]): AccuracyPoint[] {
  let best = Number.NEGATIVE_INFINITY;
  return [...points]
    .sort((a, b) => a.round - b.round)
    .map((p) => {
      best = Math.max(best, p.accuracy);
      return { round: p.round, accuracy: best };
    });
}

/**
 * The (fractional) round at which the best-so-far curve first reaches
 * `target`, or null when it never does.
 *
 * @example
 * roundsToTarget([{ round: 1, accuracy: 0.9 }, { round: 2, accuracy: 0.98 }], 0.97) // 1.875
 */
export function roundsToTarget(points: readonly AccuracyPoint[], target: number): number | null {
  const curve = bestSoFar(points);
  for (let i = 0; i < curve.length; i++) {
    if (curve[i].accuracy < target) continue;
    if (i === 0) return curve[0].round;
    const before = curve[i - 1];
    const after = curve[i];
    const t = (target - before.accuracy) / (after.accuracy - before.accuracy);
    return before.round + t * (after.round - before.round);
  }
  return null;
}
