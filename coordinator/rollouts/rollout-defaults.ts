/**
 * A rollout's defaults when its start request leaves them out, and how often
 * the service evaluates running rollouts. test/bench/rollout-simulation.ts
 * repeats them (and checks that it does) so the bench need not load the server.
 */

/** Canary percentages per stage; the 100% stage is the promotion itself. */
export const DEFAULT_STAGES = [5, 25, 50, 100];
/** The least time a passing stage runs before it advances. */
export const DEFAULT_MIN_STAGE_SECONDS = 3600;
/** The least canary devices exposed before a passing stage advances. */
export const DEFAULT_MIN_SAMPLES = 50;
/** How often every running rollout is evaluated. */
export const DEFAULT_EVALUATE_INTERVAL_MS = 5_000;
