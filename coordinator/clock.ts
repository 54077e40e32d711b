/**
 * The coordinator's one source of "now", injectable so that deadlines,
 * sweeps and rollout timing can be tested without waiting for real time.
 *
 * @example
 * const clock = manualClock(Date.parse('2026-01-01T00:00:00Z'));
 * const flock = await createCoordinator({ dataDir, clock, sweep: false });
 * clock.advance(6_000); // past a 5 s round deadline, at once
 * await flock.deps.rounds.sweep();
 */

/** Milliseconds since the epoch, as `Date.now()` counts them. */
export interface Clock {
  now(): number;
}

/** The real time. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to; for tests and simulations. */
export interface ManualClock extends Clock {
  /** Moves the clock forward by `ms` (never backward: a RangeError for a negative or non-finite step). */
  advance(ms: number): void;
}

/** A manual clock starting at `startMs` (the real time by default). */
export function manualClock(startMs: number = Date.now()): ManualClock {
  let current = startMs;
  return {
    now: () => current,
    advance(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`a clock only moves forward; got a step of ${ms} ms`);
      current += ms;
    },
  };
}
