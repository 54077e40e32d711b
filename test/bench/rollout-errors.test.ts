/**
 * The rollout-error bench at small N, as a test: canary analysis re-tested
 * every 5 s over a whole rollout must keep the false-rollback rate of an
 * equal candidate within the configured level (plus a 3-sigma binomial
 * margin), and still catch a 3-point accuracy regression. The fixed-horizon
 * baseline it replaced fails the same check, so the check can fail.
 */
import { describe, expect, it } from 'vitest';
import { analyzeCanary } from '../../coordinator/rollouts/canary-analysis.ts';
import { resolveMetricRules } from '../../coordinator/rollouts/metric-rules.ts';
import { fixedHorizonAnalysis } from './fixed-horizon-analysis.ts';
import {
  binomialUpperMargin,
  DEFAULT_FLEET,
  runScenario,
  sampleBinomial,
  SERVICE_DEFAULTS,
} from './rollout-simulation.ts';
import { seededRandom } from '../../shared/stats/index.ts';

const off = { enabled: false };
const rules = resolveMetricRules({ latency: off, confidence: off, drift: off });
const level = rules.accuracy.alpha + rules.errorRate.alpha;

describe('rollout errors under continuous monitoring', () => {
  it('simulates at the service cadence and stages', async () => {
    const service = await import('../../coordinator/rollouts/service.ts');
    expect(SERVICE_DEFAULTS).toEqual({
      stages: service.DEFAULT_STAGES,
      minStageSeconds: service.DEFAULT_MIN_STAGE_SECONDS,
      minSamples: service.DEFAULT_MIN_SAMPLES,
      evaluateIntervalMs: service.DEFAULT_EVALUATE_INTERVAL_MS,
    });
  });

  it('samples binomials exactly enough: mean and variance of Binomial(100, 0.9) and (500, 0.01)', () => {
    const random = seededRandom(9);
    for (const [n, p] of [
      [100, 0.9],
      [500, 0.01],
    ]) {
      const draws = Array.from({ length: 20_000 }, () => sampleBinomial(random, n, p));
      const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
      const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / draws.length;
      expect(Math.abs(mean - n * p)).toBeLessThan(4 * Math.sqrt((n * p * (1 - p)) / draws.length));
      expect(variance / (n * p * (1 - p))).toBeCloseTo(1, 1);
    }
  });

  it('rolls back at most alpha of 200 equal candidates over all stages, where the fixed-horizon test does not', () => {
    const rollouts = 200;
    const margin = binomialUpperMargin(level, rollouts);
    const always = runScenario(
      { analyze: analyzeCanary, rules, fleet: DEFAULT_FLEET, accuracyDrop: 0 },
      rollouts,
      18_003,
    );
    expect(always.ends.rolled_back / rollouts, JSON.stringify(always.ends)).toBeLessThanOrEqual(margin);
    expect(always.ends.promoted / rollouts).toBeGreaterThan(0.9);
    const fixed = runScenario(
      { analyze: fixedHorizonAnalysis, rules, fleet: DEFAULT_FLEET, accuracyDrop: 0 },
      60,
      18_003,
    );
    expect(fixed.ends.rolled_back / 60, JSON.stringify(fixed.ends)).toBeGreaterThan(margin);
  }, 300_000);

  it('rolls back every one of 40 candidates 3 accuracy points worse, none promoted', () => {
    const r = runScenario({ analyze: analyzeCanary, rules, fleet: DEFAULT_FLEET, accuracyDrop: 0.03 }, 40, 318_003);
    expect(r.ends).toEqual({ promoted: 0, rolled_back: 40, halted: 0, stalled: 0 });
    expect(r.failedBy.accuracy).toBe(40);
    // Mostly caught in the first stage, on 5% of devices, before its minimum hour is up.
    const sorted = [...r.rollbackSeconds].sort((a, b) => a - b);
    expect(sorted[sorted.length >> 1]).toBeLessThan(SERVICE_DEFAULTS.minStageSeconds);
  }, 120_000);
});
