import { describe, expect, it } from 'vitest';
import type { CanaryVerdict } from '../../../coordinator/rollouts/canary-analysis.ts';
import type { DriftReport } from '../../../coordinator/rollouts/drift.ts';
import { pairedBarChart } from './bar-chart.ts';
import { epsilonSeries } from './privacy-series.ts';
import { driftFlags, evidenceOf, rolloutPanel, type RolloutDetail } from './rollout-panel.ts';

// Typed as the coordinator's own verdict, so a change of its shape breaks this test at compile time.
const verdict: CanaryVerdict = {
  verdict: 'fail',
  srm: {
    canaryExposed: 10,
    controlExposed: 190,
    expectedCanaryShare: 0.05,
    observedCanaryShare: 0.05,
    pValue: 1,
    test: 'sequential-beta-binomial',
    mismatch: false,
  },
  metrics: [
    {
      metric: 'accuracy',
      outcome: 'fail',
      test: 'msprt-two-proportions',
      canary: 0.62,
      control: 0.91,
      harm: 0.29,
      pValue: 1e-9,
      samples: { canary: 1000, control: 19000 },
      threshold: 0.02,
      detail: 'canary 62% vs control 91%',
    },
    {
      metric: 'latency',
      outcome: 'pass',
      test: 'msprt-quantile',
      canary: 12,
      control: 24,
      harm: -0.3,
      pValue: 0.9,
      samples: { canary: 300, control: 300 },
      threshold: 0.1,
      detail: 'faster',
    },
  ],
  reasons: ['accuracy: canary worse <script>'],
};
const rollout = (lastVerdict: Record<string, unknown> | null, extra: Partial<RolloutDetail> = {}): RolloutDetail => ({
  id: 'ro_1',
  app: 'digits',
  candidateVersion: 2,
  controlVersion: 1,
  status: 'running',
  stages: [5, 25, 50, 100],
  stageIndex: 0,
  canaryPercent: 5,
  reason: null,
  lastVerdict,
  ...extra,
});
const barHeight = (svg: string, metric: string, cohort: string) =>
  Number(
    new RegExp(`<rect [^>]*height="([\\d.]+)"[^>]*data-cohort="${cohort}" data-metric="${metric}"`).exec(svg)?.[1],
  );

describe('rolloutPanel', () => {
  it('shows the verdict, one evidence row per metric and canary/control bars in proportion', () => {
    const html = rolloutPanel(
      rollout({ at: '2026-01-01T00:00:00Z', ...verdict } as unknown as Record<string, unknown>),
    );
    expect(html).toContain('<span class="pill fail">fail</span>');
    expect(html.match(/<tr data-metric=/g)).toHaveLength(2);
    expect(html).toContain('msprt-two-proportions');
    expect(html).not.toContain('<script>'); // reasons are escaped
    const canary = barHeight(html, 'accuracy', 'canary');
    const control = barHeight(html, 'accuracy', 'control');
    expect(canary / control).toBeCloseTo(0.62 / 0.91, 2);
    expect(barHeight(html, 'latency', 'canary')).toBeLessThan(barHeight(html, 'latency', 'control'));
  });

  it('says when there is no verdict yet and shows the shadow report', () => {
    const html = rolloutPanel(
      rollout(null, {
        shadow: { version: 3, sampleRate: 0.1 },
        shadowReport: { comparisons: 40, devices: 2, agreementRate: 0.95, latencyDeltaMs: 1.5 },
      }),
    );
    expect(html).toContain('No verdict yet');
    expect(html).toContain('agreement <strong>95%</strong>');
    expect(html).toContain('+1.5 ms');
  });

  it('drops malformed evidence rows instead of throwing', () => {
    expect(
      evidenceOf({ metrics: [null, { metric: 'x', outcome: 'weird' }, { metric: 'accuracy', outcome: 'pass' }] }),
    ).toHaveLength(1);
    expect(evidenceOf({ metrics: 'nope' })).toEqual([]);
  });
});

describe('driftFlags', () => {
  const side = (observations: number, devices: number) => ({ observations, devices });
  it("flags drifted versions, lists the highest PSI first and shows each side's samples", () => {
    const report: DriftReport = {
      app: 'digits',
      referenceVersion: 1,
      threshold: 0.2,
      minSamples: 100,
      minDevices: 5,
      versions: [
        {
          version: 2,
          psi: { a: 0.05, b: 0.6 },
          drifted: ['b'],
          samples: { reference: side(500, 9), version: side(300, 7) },
          status: 'drift',
        },
        {
          version: 3,
          psi: { a: 0.01 },
          drifted: [],
          samples: { reference: side(500, 9), version: side(200, 6) },
          status: 'pass',
        },
      ],
    };
    const html = driftFlags(report);
    expect(html).toMatch(/data-drift-version="2" data-drift-status="drift"><td>v2<\/td><td><span class="pill fail">/);
    expect(html).toMatch(/data-drift-version="3" data-drift-status="pass"><td>v3<\/td><td><span class="pill pass">/);
    expect(html).toContain('300 obs / 7 dev');
    expect(html.indexOf('b 0.6')).toBeLessThan(html.indexOf('a 0.05'));
  });

  it('says insufficient, not pass or drift, below the minimum, whatever the PSI', () => {
    const report: DriftReport = {
      app: 'digits',
      referenceVersion: 1,
      threshold: 0.2,
      minSamples: 100,
      minDevices: 5,
      versions: [
        {
          version: 2,
          psi: { a: 0.9 },
          drifted: ['a'],
          samples: { reference: side(42, 1), version: side(42, 1) },
          status: 'insufficient',
        },
      ],
    };
    const html = driftFlags(report);
    expect(html).toMatch(/<span class="pill insufficient">insufficient<\/span> too few samples/);
    expect(html).not.toContain('pill fail');
    expect(html).toContain('42 obs / 1 dev');
  });
});

describe('pairedBarChart', () => {
  it('draws a dash, not a bar, for a missing value', () => {
    const svg = pairedBarChart([{ label: 'drift', canary: null, control: 0.1 }], { title: 'T' });
    expect(svg).not.toContain('data-cohort="canary"');
    expect(svg).toContain('data-cohort="control"');
  });
});

describe('epsilonSeries', () => {
  it("reads cumulative epsilon from each round's result version, in round order", () => {
    expect(
      epsilonSeries(
        [
          { roundNumber: 2, resultVersion: 5 },
          { roundNumber: 1, resultVersion: 4 },
          { roundNumber: 3, resultVersion: null },
        ],
        [
          { version: 4, epsilon: 0.8 },
          { version: 5, epsilon: 1.3 },
        ],
      ),
    ).toEqual([
      { x: 1, y: 0.8 },
      { x: 2, y: 1.3 },
    ]);
  });
});
