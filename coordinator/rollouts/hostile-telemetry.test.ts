/**
 * Canary analysis against lying devices, in process (no HTTP, no store): 200
 * honest devices and 5 liars. Liars try both directions: force a rollback of
 * a candidate as good as production, and hide a candidate that honest
 * devices clearly show is worse. The same rows through the old, trusting
 * analysis (attribution by claimed version, counts as sent, no trimming)
 * show what the defences buy.
 */
import { describe, expect, it } from 'vitest';
import type { TelemetryEvent } from '../store/index.ts';
import { analyzeCanary } from './canary-analysis.ts';
import { cohortOf } from './cohort.ts';
import { summarizeCohort } from './cohort-summary.ts';
import { decideNext } from './decide.ts';
import { resolveMetricRules } from './metric-rules.ts';
import { splitCohorts } from './rollout-telemetry.ts';

const rollout = { id: 'ro_hostile', candidateVersion: 2, controlVersion: 1, stages: [50, 75, 100], stageIndex: 0 };
const state = {
  status: 'running' as const,
  stages: rollout.stages,
  stageIndex: 0,
  stageStartedAt: '2026-01-01T00:00:00.000Z',
  minStageSeconds: 0,
  minSamples: 3,
};
const rules = resolveMetricRules();
const at = '2026-01-01T00:01:00.000Z';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

interface Quality {
  accuracy: number;
  errorRate: number;
  latencyMs: number;
}
const GOOD: Quality = { accuracy: 0.9, errorRate: 0.02, latencyMs: 10 };
const WORSE: Quality = { accuracy: 0.75, errorRate: 0.08, latencyMs: 14 };

class Rows {
  readonly rows: TelemetryEvent[] = [];
  add(deviceId: string, version: number, kind: string, payload: Record<string, unknown>) {
    this.rows.push({
      id: this.rows.length + 1,
      deviceId,
      app: 'digits',
      version,
      kind,
      payload: { type: kind, at, ...payload } as TelemetryEvent['payload'],
      at,
    });
  }
}

/** One honest device's stage: 100 predictions, 100 labelled outcomes, 32 latency samples, a confidence histogram. */
function honest(rows: Rows, deviceId: string, version: number, q: Quality, rand: () => number) {
  rows.add(deviceId, version, 'model-loaded', {
    version,
    generation: version + 1,
    encoding: 'int8',
    backend: 'wasm',
    fromCache: false,
  });
  let errors = 0;
  let correct = 0;
  for (let i = 0; i < 100; i++) {
    if (rand() < q.errorRate) errors++;
    if (rand() < q.accuracy) correct++;
  }
  rows.add(deviceId, version, 'predictions', { counts: { '0': 100 - errors } });
  if (errors) rows.add(deviceId, version, 'error', { where: 'predict', code: 'nan_output', count: errors });
  rows.add(deviceId, version, 'feedback', { correct, incorrect: 100 - correct });
  rows.add(deviceId, version, 'latency', {
    backend: 'wasm',
    count: 32,
    meanMs: q.latencyMs,
    p50Ms: q.latencyMs,
    p95Ms: q.latencyMs,
    p99Ms: q.latencyMs,
    maxMs: q.latencyMs,
    samplesMs: Array.from({ length: 32 }, () => q.latencyMs * (0.5 + rand())),
  });
  rows.add(deviceId, version, 'confidence', { histogram: { min: 0, max: 1, counts: [2, 3, 10, 35, 50] } });
}

/** 200 honest devices, each reporting the version its cohort is served. */
function honestFleet(candidate: Quality, seed = 7): Rows {
  const rows = new Rows();
  const rand = rng(seed);
  for (let i = 0; i < 200; i++) {
    const id = `dev_h${i}`;
    const canary = cohortOf(rollout.id, id, 50) === 'canary';
    honest(rows, id, canary ? 2 : 1, canary ? candidate : GOOD, rand);
  }
  return rows;
}

/** `n` device ids in `cohort` (a Sybil keeps registering until it lands where it wants). */
function liarIds(cohort: 'canary' | 'control', n: number, tag: string): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++)
    if (cohortOf(rollout.id, `dev_${tag}${i}`, 50) === cohort) out.push(`dev_${tag}${i}`);
  return out;
}

function verdicts(rows: Rows) {
  const defended = splitCohorts(rollout, rows.rows);
  const verdict = analyzeCanary({ ...defended, expectedCanaryShare: 0.5, rules });
  const action = decideNext(state, verdict, defended.canary.exposedDevices, new Date(at));
  // The trusting analysis this replaces: rows attributed by claimed version, counts as sent.
  const trusting = {
    maxUnitsPerDevice: Number.POSITIVE_INFINITY,
    maxLatencySamplesPerDevice: Number.POSITIVE_INFINITY,
    trimFraction: 0,
  };
  const naive = analyzeCanary({
    canary: summarizeCohort(
      rows.rows.filter((r) => r.version === 2),
      undefined,
      trusting,
    ),
    control: summarizeCohort(
      rows.rows.filter((r) => r.version === 1),
      undefined,
      trusting,
    ),
    expectedCanaryShare: 0.5,
    rules: resolveMetricRules({
      accuracy: { minDevices: 1 },
      errorRate: { minDevices: 1 },
      latency: { minDevices: 1 },
      confidence: { minDevices: 1 },
      drift: { minDevices: 1 },
    }),
  });
  return { verdict, action, naive, outcome: (m: string) => verdict.metrics.find((e) => e.metric === m)?.outcome };
}

describe('canary analysis with lying devices', () => {
  it.each([7, 11, 23])('an equal candidate passes with honest devices only (fleet %i)', (seed) => {
    const { verdict, action } = verdicts(honestFleet(GOOD, seed));
    expect(verdict.verdict).toBe('pass');
    expect(action.kind).toBe('advance');
  });

  it('a clearly worse candidate fails with honest devices only', () => {
    const { verdict, action } = verdicts(honestFleet(WORSE));
    expect(verdict.verdict).toBe('fail');
    expect(action.kind).toBe('rollback');
  });

  it.each([7, 11, 23])('5 liars cannot force the rollback of an equal candidate (fleet %i)', (seed) => {
    const rows = honestFleet(GOOD, seed);
    // Canary liars: huge error counts, every outcome wrong, very slow, never confident.
    for (const id of liarIds('canary', 3, 'lc')) {
      rows.add(id, 2, 'model-loaded', {
        version: 2,
        generation: 3,
        encoding: 'int8',
        backend: 'wasm',
        fromCache: false,
      });
      rows.add(id, 2, 'error', { where: 'predict', code: 'x', count: 1000 });
      rows.add(id, 2, 'feedback', { correct: 0, incorrect: 100_000 });
      rows.add(id, 2, 'latency', {
        backend: 'wasm',
        count: 256,
        meanMs: 1e4,
        p50Ms: 1e4,
        p95Ms: 1e4,
        p99Ms: 1e4,
        maxMs: 1e4,
        samplesMs: Array(256).fill(1e4),
      });
      rows.add(id, 2, 'confidence', { histogram: { min: 0, max: 1, counts: [1_000_000, 0, 0, 0, 0] } });
    }
    // Control liars claim the candidate (the original attack) or praise production.
    for (const id of liarIds('control', 2, 'lk')) {
      rows.add(id, 2, 'error', { where: 'predict', code: 'x', count: 1000 });
      rows.add(id, 1, 'feedback', { correct: 100_000, incorrect: 0 });
      rows.add(id, 1, 'predictions', { counts: { '0': 1_000_000 } });
    }
    const { verdict, action, naive } = verdicts(rows);
    expect(naive.verdict).toBe('fail');
    // No rollback; at worst a marginal wait (liars nudge a small honest difference past alpha, never past the threshold).
    expect(['pass', 'marginal'], verdict.reasons.join('; ')).toContain(verdict.verdict);
    expect(['advance', 'wait']).toContain(action.kind);
  });

  it.each([7, 11, 23])('5 liars cannot hide a candidate that honest devices show is worse (fleet %i)', (seed) => {
    const rows = honestFleet(WORSE, seed);
    for (const id of liarIds('canary', 3, 'lc')) {
      rows.add(id, 2, 'model-loaded', {
        version: 2,
        generation: 3,
        encoding: 'int8',
        backend: 'wasm',
        fromCache: false,
      });
      rows.add(id, 2, 'feedback', { correct: 100_000, incorrect: 0 });
      rows.add(id, 2, 'predictions', { counts: { '0': 1_000_000 } });
      for (let k = 0; k < 20; k++)
        rows.add(id, 2, 'latency', {
          backend: 'wasm',
          count: 256,
          meanMs: 0,
          p50Ms: 0,
          p95Ms: 0,
          p99Ms: 0,
          maxMs: 0,
          samplesMs: Array(256).fill(0),
        });
    }
    for (const id of liarIds('control', 2, 'lk')) {
      rows.add(id, 1, 'feedback', { correct: 0, incorrect: 100_000 });
      rows.add(id, 1, 'error', { where: 'predict', code: 'x', count: 1_000_000 });
    }
    const { verdict, action, naive, outcome } = verdicts(rows);
    // The trusting analysis is fooled on the rates; only latency's p95 test still sees the honest tail past the liars' zeros.
    expect(naive.metrics.filter((m) => m.outcome === 'fail').map((m) => m.metric)).toEqual(['latency']);
    expect(outcome('accuracy')).toBe('fail');
    expect(verdict.verdict).toBe('fail');
    expect(action.kind).toBe('rollback');
  });

  it('one device alone gives no verdict, whatever it claims', () => {
    const rows = new Rows();
    const [id] = liarIds('canary', 1, 'solo');
    rows.add(id, 2, 'error', { where: 'predict', code: 'x', count: 1000 });
    rows.add(id, 2, 'feedback', { correct: 0, incorrect: 1000 });
    const [other] = liarIds('control', 1, 'solo');
    rows.add(other, 1, 'feedback', { correct: 1000, incorrect: 0 });
    rows.add(other, 1, 'predictions', { counts: { '0': 1000 } });
    const { verdict, action } = verdicts(rows);
    expect(verdict.verdict).toBe('insufficient');
    expect(action.kind).toBe('wait');
  });
});
