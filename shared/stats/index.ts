/**
 * Statistics shared by client and coordinator: a streaming quantile sketch
 * for latency telemetry (tests for canary analysis follow with rollouts).
 */
export * from './quantile-sketch.ts';
