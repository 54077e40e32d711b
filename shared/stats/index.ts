/**
 * Statistics shared by client and coordinator: a streaming quantile sketch
 * for latency telemetry, and the tests canary analysis rests on (Mann-Whitney
 * U, two-proportion z-test, chi-squared sample-ratio mismatch, PSI).
 */
export * from './quantile-sketch.ts';
export * from './distributions.ts';
export * from './mann-whitney.ts';
export * from './proportion-test.ts';
export * from './chi-squared.ts';
export * from './psi.ts';
export { seededRandom, type Random } from './seeded-random.ts';
