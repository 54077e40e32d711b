/**
 * Statistics shared by client and coordinator: a streaming quantile sketch
 * for latency telemetry, fixed-horizon tests (Mann-Whitney U, two-proportion
 * z-test, chi-squared sample-ratio mismatch) and PSI. Canary analysis, which
 * re-tests every few seconds, uses PSI from here and the always-valid tests of
 * coordinator/rollouts/sequential-test.ts instead of the fixed-horizon ones.
 */
export * from './quantile-sketch.ts';
export * from './distributions.ts';
export * from './mann-whitney.ts';
export * from './proportion-test.ts';
export * from './chi-squared.ts';
export * from './psi.ts';
export { seededRandom, type Random } from './seeded-random.ts';
