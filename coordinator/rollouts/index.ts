/**
 * Rollouts: cohort assignment, canary analysis, the decision rule, and the
 * service that applies it (see service.ts).
 */
export * from './cohort.ts';
export * from './cohort-summary.ts';
export * from './canary-analysis.ts';
export * from './decide.ts';
export * from './drift.ts';
export * from './manifest-events.ts';
export * from './metric-rules.ts';
export * from './postgres-manifest-events.ts';
export * from './rollout-manifests.ts';
export * from './service.ts';
