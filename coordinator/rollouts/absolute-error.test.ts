/**
 * The regression canary: devices report |prediction - recorded target| in
 * their feedback; the summary pools per-device reservoirs, and the analysis
 * judges the canary on its absolute errors instead of accuracy, which a
 * regression model never gets.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../shared/stats/index.ts';
import type { TelemetryEvent } from '../store/index.ts';
import { analyzeCanary } from './canary-analysis.ts';
import { summarizeCohort } from './cohort-summary.ts';
import { resolveMetricRules, rulesForOutput } from './metric-rules.ts';

/** Feedback telemetry of `devices` devices, each sending 60 absolute errors drawn from |N(0, scale)|. */
function feedback(devices: number, scale: number, seed: number): TelemetryEvent[] {
  const random = seededRandom(seed);
  return Array.from(
    { length: devices },
    (_, d): TelemetryEvent => ({
      id: d + 1,
      app: 'homes',
      deviceId: `dev-${seed}-${d}`,
      version: 1,
      kind: 'feedback',
      at: '2025-01-01T00:00:00.000Z',
      payload: {
        correct: 0,
        incorrect: 0,
        absoluteErrors: Array.from({ length: 60 }, () => Math.abs(scale * (random() + random() + random() - 1.5))),
      },
    }),
  );
}

describe('rulesForOutput', () => {
  it('judges a regression candidate on absolute error, and others on accuracy as before', () => {
    const regression = rulesForOutput('regression');
    expect(regression.absoluteError).toMatchObject({ enabled: true, required: true });
    expect(regression.accuracy).toMatchObject({ enabled: false, required: false });
    expect(rulesForOutput('binary')).toEqual(resolveMetricRules());
    expect(rulesForOutput('binary').absoluteError.enabled).toBe(false);
    expect(rulesForOutput('regression', { absoluteError: { threshold: 0.2 } }).absoluteError.threshold).toBe(0.2);
  });
});

describe('the absolute-error canary metric', () => {
  const rules = rulesForOutput('regression');
  const analyse = (canaryScale: number) => {
    const canary = summarizeCohort(feedback(20, canaryScale, 1));
    const control = summarizeCohort(feedback(20, 1, 2));
    return analyzeCanary({ canary, control, expectedCanaryShare: 0.5, rules });
  };

  it('pools every device reservoir after trimming', () => {
    const s = summarizeCohort(feedback(20, 1, 3));
    // 10% trimmed from each side: 16 of 20 devices, 60 errors each.
    expect(s.absoluteErrors).toHaveLength(16 * 60);
    expect(s.devices?.absoluteError).toBe(20);
  });

  it('fails a canary whose errors are twice control, and names both mean absolute errors', () => {
    const v = analyse(2);
    const m = v.metrics.find((x) => x.metric === 'absoluteError')!;
    expect(m.outcome).toBe('fail');
    expect(m.detail).toMatch(/mean absolute error canary [\d.]+, control [\d.]+/);
    expect(v.verdict).toBe('fail');
    expect(v.metrics.find((x) => x.metric === 'accuracy')).toBeUndefined();
  });

  it('does not fail a canary as good as control', () => {
    const m = analyse(1).metrics.find((x) => x.metric === 'absoluteError')!;
    expect(m.outcome).not.toBe('fail');
  });
});
