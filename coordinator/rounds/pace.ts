/**
 * Pace steering (Bonawitz et al. 2019, "Towards Federated Learning at Scale"):
 * devices that cannot join now are told when to come back, jittered so that
 * a full round does not turn into a herd at the next one. Pure functions.
 */

/** Devices to select for a round: the goal plus over-selection for dropouts. */
export function selectionLimit(goal: number, overSelection: number): number {
  return Math.max(goal, Math.ceil(goal * overSelection));
}

/**
 * Seconds a device should wait before checking in again, with +/-`jitter`
 * spread drawn from `random` (a [0,1) source; jitter needs no crypto).
 * @example retryAfterSeconds({ base: 30, jitter: 0.5, random: Math.random }) // 15..45
 */
export function retryAfterSeconds({
  base,
  jitter = 0.5,
  random,
  min = 1,
  max = 3600,
}: {
  base: number;
  jitter?: number;
  random: () => number;
  min?: number;
  max?: number;
}): number {
  const spread = base * jitter * (2 * random() - 1);
  return Math.round(Math.min(max, Math.max(min, base + spread)));
}

/** Base wait when a round is full: until about when the next one opens. */
export function waitForNextRound(nowMs: number, deadlineMs: number): number {
  return Math.max(5, Math.min(600, (deadlineMs - nowMs) / 1000));
}
