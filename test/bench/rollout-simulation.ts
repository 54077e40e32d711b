/**
 * Whole-rollout simulation of canary analysis, in process: pure functions
 * over a seeded PRNG, no store, no HTTP. Each simulated rollout runs the real
 * `analyzeCanary` and `decideNext` at the service's real cadence (a look every
 * DEFAULT_EVALUATE_INTERVAL_MS) through the default stages, each stage on
 * fresh data (as `readCohorts` reads only the stage's window), until it is
 * promoted, rolled back, halted, or stalls past `maxStageSeconds`.
 *
 * The fleet: labelled outcomes, predictions and newly exposed devices arrive
 * at fixed fleet-wide rates, each landing in the canary with the stage's
 * share (as the cohort hash does); outcomes are correct with the cohort's
 * accuracy, predictions fail with its error rate, independently (the
 * assumption the tests make; per-device correlation is not modelled).
 */
import type { CanaryAnalysisInput, CanaryVerdict } from '../../coordinator/rollouts/canary-analysis.ts';
import { emptySummary, type CohortSummary } from '../../coordinator/rollouts/cohort-summary.ts';
import { analysedStageCount, decideNext, type DecisionState } from '../../coordinator/rollouts/decide.ts';
import type { MetricName, MetricRules } from '../../coordinator/rollouts/metric-rules.ts';
import { seededRandom, type Random } from '../../shared/stats/index.ts';
import { sampleNormal } from '../../shared/stats/seeded-random.ts';

/** The service's defaults (coordinator/rollouts/service.ts), repeated so the simulation does not load the server. */
export const SERVICE_DEFAULTS = {
  stages: [5, 25, 50, 100],
  minStageSeconds: 3600,
  minSamples: 50,
  evaluateIntervalMs: 5_000,
} as const;

export interface Fleet {
  /** Labelled outcomes (feedback) per second, both cohorts together. */
  outcomesPerSecond: number;
  /** Predictions per second, both cohorts together. */
  predictionsPerSecond: number;
  /** Devices newly loading the stage's model per second, both cohorts together. */
  exposuresPerSecond: number;
  controlAccuracy: number;
  controlErrorRate: number;
}

export const DEFAULT_FLEET: Fleet = {
  outcomesPerSecond: 20,
  predictionsPerSecond: 100,
  exposuresPerSecond: 1,
  controlAccuracy: 0.9,
  controlErrorRate: 0.01,
};

export type Analyze = (input: CanaryAnalysisInput) => CanaryVerdict;

export interface RolloutScenario {
  analyze: Analyze;
  rules: MetricRules;
  fleet: Fleet;
  /** Candidate accuracy = control accuracy - this (0: an equal candidate). */
  accuracyDrop: number;
  stages?: readonly number[];
  minStageSeconds?: number;
  minSamples?: number;
  evaluateIntervalMs?: number;
  /** A stage still waiting after this long counts as stalled (default 2 x minStageSeconds). */
  maxStageSeconds?: number;
}

export type RolloutEnd = 'promoted' | 'rolled_back' | 'halted' | 'stalled';

export interface RolloutRun {
  end: RolloutEnd;
  /** Simulated seconds from the rollout's start to its end. */
  seconds: number;
  looks: number;
  stageIndex: number;
  /** Metrics that failed at the rollback look. */
  failed: MetricName[];
  /** Seconds until accuracy was first significantly worse (marginal or fail), null if never. */
  accuracySignificantAt: number | null;
}

/** Binomial(n, p) by geometric skips: exact, O(n min(p, 1 - p) + 1). */
export function sampleBinomial(random: Random, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const flip = p > 0.5;
  const logMiss = Math.log(flip ? p : 1 - p);
  let k = 0;
  for (
    let i = Math.floor(Math.log(1 - random()) / logMiss) + 1;
    i <= n;
    i += Math.floor(Math.log(1 - random()) / logMiss) + 1
  )
    k++;
  return flip ? n - k : k;
}

interface Tally {
  correct: number;
  incorrect: number;
  predictions: number;
  errors: number;
  exposed: number;
}
const newTally = (): Tally => ({ correct: 0, incorrect: 0, predictions: 0, errors: 0, exposed: 0 });
const summaryOf = (t: Tally): CohortSummary => ({
  ...emptySummary(),
  exposedDevices: t.exposed,
  correct: t.correct,
  incorrect: t.incorrect,
  predictions: t.predictions,
  predictionErrors: t.errors,
});

function arrive(
  random: Random,
  t: Tally,
  other: Tally,
  share: number,
  outcomes: number,
  predictions: number,
  exposures: number,
  accuracy: [number, number],
  errorRate: [number, number],
) {
  const n1 = sampleBinomial(random, outcomes, share);
  const c1 = sampleBinomial(random, n1, accuracy[0]);
  const c2 = sampleBinomial(random, outcomes - n1, accuracy[1]);
  t.correct += c1;
  t.incorrect += n1 - c1;
  other.correct += c2;
  other.incorrect += outcomes - n1 - c2;
  const m1 = sampleBinomial(random, predictions, share);
  const e1 = sampleBinomial(random, m1, errorRate[0]);
  const e2 = sampleBinomial(random, predictions - m1, errorRate[1]);
  t.predictions += m1 - e1;
  t.errors += e1;
  other.predictions += predictions - m1 - e2;
  other.errors += e2;
  const x1 = sampleBinomial(random, exposures, share);
  t.exposed += x1;
  other.exposed += exposures - x1;
}

/**
 * One rollout from start to end.
 * @example
 * simulateRollout({ analyze: analyzeCanary, rules: resolveMetricRules(), fleet: DEFAULT_FLEET, accuracyDrop: 0 }, seededRandom(1)).end // 'promoted'
 */
export function simulateRollout(s: RolloutScenario, random: Random): RolloutRun {
  const stages = [...(s.stages ?? SERVICE_DEFAULTS.stages)];
  const minStageSeconds = s.minStageSeconds ?? SERVICE_DEFAULTS.minStageSeconds;
  const dt = (s.evaluateIntervalMs ?? SERVICE_DEFAULTS.evaluateIntervalMs) / 1000;
  const maxStageSeconds = s.maxStageSeconds ?? 2 * minStageSeconds;
  const analysedStages = analysedStageCount(stages);
  const f = s.fleet;
  const [outcomes, predictions, exposures] = [
    Math.round(f.outcomesPerSecond * dt),
    Math.round(f.predictionsPerSecond * dt),
    Math.round(f.exposuresPerSecond * dt),
  ];
  const accuracy: [number, number] = [f.controlAccuracy - s.accuracyDrop, f.controlAccuracy];
  const errorRate: [number, number] = [f.controlErrorRate, f.controlErrorRate];
  const start = Date.parse('2026-01-01T00:00:00.000Z');
  let looks = 0;
  let elapsed = 0;
  let accuracySignificantAt: number | null = null;
  for (let stageIndex = 0; stageIndex < stages.length; stageIndex++) {
    const share = stages[stageIndex] / 100;
    const state: DecisionState = {
      status: 'running',
      stages,
      stageIndex,
      stageStartedAt: new Date(start + elapsed * 1000).toISOString(),
      minStageSeconds,
      minSamples: s.minSamples ?? SERVICE_DEFAULTS.minSamples,
    };
    const canary = newTally();
    const control = newTally();
    for (let inStage = dt; ; inStage += dt) {
      elapsed += dt;
      looks++;
      arrive(random, canary, control, share, outcomes, predictions, exposures, accuracy, errorRate);
      const verdict = s.analyze({
        canary: summaryOf(canary),
        control: summaryOf(control),
        expectedCanaryShare: share,
        rules: s.rules,
        analysedStages,
      });
      const acc = verdict.metrics.find((m) => m.metric === 'accuracy');
      if (
        accuracySignificantAt === null &&
        acc?.pValue != null &&
        acc.pValue < (acc.stageAlpha ?? s.rules.accuracy.alpha)
      )
        accuracySignificantAt = elapsed;
      const action = decideNext(state, verdict, canary.exposed, new Date(start + elapsed * 1000));
      const run = { seconds: elapsed, looks, stageIndex, accuracySignificantAt, failed: [] as MetricName[] };
      if (action.kind === 'rollback')
        return {
          ...run,
          end: 'rolled_back',
          failed: verdict.metrics.filter((m) => m.outcome === 'fail').map((m) => m.metric),
        };
      if (action.kind === 'halt') return { ...run, end: 'halted' };
      if (action.kind === 'promote') return { ...run, end: 'promoted' };
      if (action.kind === 'advance') {
        stageIndex = action.toStageIndex - 1;
        break;
      }
      if (inStage >= maxStageSeconds) return { ...run, end: 'stalled' };
    }
  }
  throw new Error('unreachable: the last stage below 100% promotes or waits');
}

export interface ScenarioSummary {
  rollouts: number;
  ends: Record<RolloutEnd, number>;
  /** Rollbacks in which each metric failed. */
  failedBy: Partial<Record<MetricName, number>>;
  rollbackSeconds: number[];
  rollbackLooks: number[];
  accuracySignificantSeconds: number[];
}

/**
 * `rollouts` independent rollouts, rollout i seeded with seed + i.
 * @example
 * runScenario(scenario, 200, 1).ends.rolled_back // false rollbacks when accuracyDrop is 0
 */
export function runScenario(s: RolloutScenario, rollouts: number, seed: number): ScenarioSummary {
  const out: ScenarioSummary = {
    rollouts,
    ends: { promoted: 0, rolled_back: 0, halted: 0, stalled: 0 },
    failedBy: {},
    rollbackSeconds: [],
    rollbackLooks: [],
    accuracySignificantSeconds: [],
  };
  for (let i = 0; i < rollouts; i++) {
    const r = simulateRollout(s, seededRandom(seed + i));
    out.ends[r.end]++;
    if (r.end === 'rolled_back') {
      out.rollbackSeconds.push(r.seconds);
      out.rollbackLooks.push(r.looks);
      for (const m of r.failed) out.failedBy[m] = (out.failedBy[m] ?? 0) + 1;
    }
    if (r.accuracySignificantAt !== null) out.accuracySignificantSeconds.push(r.accuracySignificantAt);
  }
  return out;
}

/** The one-sided upper margin of an observed rate: level + z sqrt(level (1 - level) / n). */
export function binomialUpperMargin(level: number, n: number, z = 3): number {
  return level + z * Math.sqrt((level * (1 - level)) / n);
}

export interface LatencyNullScenario {
  analyze: Analyze;
  /** Level per quantile (p50, p95) the crossings are counted at. */
  alpha: number;
  share: number;
  /** Latency samples per second, both cohorts together. */
  samplesPerSecond: number;
  stageSeconds?: number;
  evaluateIntervalMs?: number;
}

/**
 * Equal latency in both cohorts (log-normal, median 20 ms, sigma 0.4, rounded
 * to 0.1 ms so ties occur), one stage re-analysed at every look: the share
 * of runs in which each latency quantile's always-valid p ever fell below
 * `alpha` while judged. Goes through `analyze` with only latency enabled.
 * @example
 * latencyNullCrossings({ analyze: analyzeCanary, alpha: 0.1, share: 0.25, samplesPerSecond: 4 }, 200, 7000).p95 // <= 0.1
 */
export function latencyNullCrossings(
  s: LatencyNullScenario,
  runs: number,
  seed: number,
): { runs: number; p50: number; p95: number } {
  const off = {
    direction: 'lower-is-better',
    threshold: 0,
    minSamples: 1,
    alpha: 0.5,
    required: false,
    enabled: false,
  } as const;
  const rules: MetricRules = {
    accuracy: off,
    errorRate: off,
    confidence: off,
    drift: off,
    absoluteError: off,
    latency: { ...off, threshold: 0.05, minSamples: 30, alpha: 2 * s.alpha, enabled: true },
  };
  const dt = (s.evaluateIntervalMs ?? SERVICE_DEFAULTS.evaluateIntervalMs) / 1000;
  const perLook = Math.round(s.samplesPerSecond * dt);
  const crossed = [0, 0];
  for (let k = 0; k < runs; k++) {
    const random = seededRandom(seed + k);
    const canary: number[] = [];
    const control: number[] = [];
    const hit = [false, false];
    for (let t = dt; t <= (s.stageSeconds ?? SERVICE_DEFAULTS.minStageSeconds); t += dt) {
      for (let i = 0; i < perLook; i++)
        (random() < s.share ? canary : control).push(
          Math.round(10 * Math.exp(Math.log(20) + 0.4 * sampleNormal(random))) / 10,
        );
      const v = s.analyze({
        canary: { ...emptySummary(), latencySamplesMs: canary },
        control: { ...emptySummary(), latencySamplesMs: control },
        expectedCanaryShare: s.share,
        rules,
      });
      const quantiles = v.metrics.find((m) => m.metric === 'latency')?.quantiles ?? [];
      quantiles.forEach((q, i) => {
        if (q.outcome !== 'insufficient' && q.pValue < s.alpha) hit[i] = true;
      });
    }
    hit.forEach((h, i) => (crossed[i] += h ? 1 : 0));
  }
  return { runs, p50: crossed[0] / runs, p95: crossed[1] / runs };
}
