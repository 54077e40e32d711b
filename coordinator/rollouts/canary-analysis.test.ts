import { describe, expect, it } from 'vitest';
import { analyzeCanary } from './canary-analysis.ts';
import { emptySummary, summarizeCohort, type CohortSummary } from './cohort-summary.ts';
import { cohortOf, bucketOf } from './cohort.ts';
import { analysedStageCount, decideNext, type DecisionState } from './decide.ts';
import { resolveMetricRules } from './metric-rules.ts';
import { seededRandom } from '../../shared/stats/index.ts';
import { sampleNormal } from '../../shared/stats/seeded-random.ts';

const rules = resolveMetricRules({ accuracy: { minSamples: 100 } });
const cohort = (
  exposed: number,
  correct: number,
  incorrect: number,
  extra: Partial<CohortSummary> = {},
): CohortSummary => ({ ...emptySummary(), exposedDevices: exposed, correct, incorrect, ...extra });
const state = (over: Partial<DecisionState> = {}): DecisionState => ({
  status: 'running',
  stages: [5, 25, 50, 100],
  stageIndex: 0,
  stageStartedAt: '2025-01-01T00:00:00.000Z',
  minStageSeconds: 60,
  minSamples: 10,
  ...over,
});
const later = new Date('2025-01-01T00:05:00.000Z');

describe('canary analysis', () => {
  it('passes a canary as good as control and advances once duration and exposure are met', () => {
    const v = analyzeCanary({
      canary: cohort(50, 900, 100),
      control: cohort(950, 17_100, 1900),
      expectedCanaryShare: 0.05,
      rules,
    });
    expect(v.verdict).toBe('pass');
    expect(v.srm?.mismatch).toBe(false);
    expect(decideNext(state(), v, 50, later)).toEqual({ kind: 'advance', toStageIndex: 1 });
    expect(decideNext(state(), v, 50, new Date('2025-01-01T00:00:30.000Z')).kind).toBe('wait');
    expect(decideNext(state(), v, 5, later).kind).toBe('wait');
    expect(decideNext(state({ stageIndex: 2 }), v, 50, later)).toEqual({ kind: 'promote' });
    expect(decideNext(state({ status: 'paused' }), v, 50, later).kind).toBe('wait');
  });
  it('fails a clearly worse canary and rolls back at once', () => {
    const v = analyzeCanary({
      canary: cohort(50, 600, 400),
      control: cohort(950, 17_100, 1900),
      expectedCanaryShare: 0.05,
      rules,
    });
    expect(v.verdict).toBe('fail');
    const acc = v.metrics.find((m) => m.metric === 'accuracy')!;
    expect(acc.harm).toBeCloseTo(0.3, 10);
    expect(acc.pValue).toBeLessThan(1e-10);
    expect(decideNext(state(), v, 50, new Date('2025-01-01T00:00:01.000Z')).kind).toBe('rollback');
  });
  it('is marginal when worse by more than the threshold without significance, and waits', () => {
    // 0.87 vs 0.90 on 300 canary outcomes: 3 points worse, always-valid p 0.37.
    const v = analyzeCanary({
      canary: cohort(50, 261, 39),
      control: cohort(950, 9000, 1000),
      expectedCanaryShare: 0.05,
      rules,
    });
    expect(v.verdict).toBe('marginal');
    expect(decideNext(state(), v, 50, later).kind).toBe('wait');
  });
  it('claims no significance on too few expected events, where the normal approximation would fail a rare rate by chance', () => {
    // 10 errors in 200 predictions against 1%: always-valid p 6e-5, but 2 expected canary errors.
    const v = analyzeCanary({
      canary: cohort(50, 900, 100, { predictions: 190, predictionErrors: 10 }),
      control: cohort(950, 9000, 1000, { predictions: 9900, predictionErrors: 100 }),
      expectedCanaryShare: 0.05,
      rules,
    });
    const err = v.metrics.find((m) => m.metric === 'errorRate')!;
    expect(err.pValue).toBeLessThan(1e-4);
    expect(err.outcome).toBe('marginal');
    expect(err.detail).toMatch(/significance not claimed below 30 expected events per cohort \(2\.\d+ canary/);
    // A perfect model has no rare events at all, and still passes.
    const perfect = analyzeCanary({
      canary: cohort(50, 1000, 0),
      control: cohort(950, 10_000, 0),
      expectedCanaryShare: 0.05,
      rules,
    });
    expect(perfect.verdict).toBe('pass');
  });
  it('gives no verdict below the minimum samples', () => {
    const v = analyzeCanary({
      canary: cohort(3, 20, 2),
      control: cohort(60, 900, 100),
      expectedCanaryShare: 0.05,
      rules,
    });
    expect(v.verdict).toBe('insufficient');
    expect(v.metrics.find((m) => m.metric === 'accuracy')?.outcome).toBe('insufficient');
    expect(decideNext(state(), v, 3, later).kind).toBe('wait');
  });
  it('halts on a sample-ratio mismatch whatever the metrics say', () => {
    const v = analyzeCanary({
      canary: cohort(120, 900, 100),
      control: cohort(880, 9000, 1000),
      expectedCanaryShare: 0.05,
      rules,
    });
    expect(v.verdict).toBe('srm');
    expect(v.srm!.pValue).toBeLessThan(0.001);
    expect(decideNext(state(), v, 120, later).kind).toBe('halt');
  });
  it('compares latency with the always-valid quantile test and flags a slower canary', () => {
    const slow = Array.from({ length: 200 }, (_, i) => 20 + (i % 10));
    const fast = Array.from({ length: 200 }, (_, i) => 10 + (i % 10));
    const v = analyzeCanary({
      canary: cohort(50, 900, 100, { latencySamplesMs: slow }),
      control: cohort(950, 9000, 1000, { latencySamplesMs: fast }),
      expectedCanaryShare: 0.05,
      rules,
    });
    const lat = v.metrics.find((m) => m.metric === 'latency')!;
    expect(lat.outcome).toBe('fail');
    expect(lat.test).toBe('msprt-quantile');
    expect(lat.quantiles?.map((q) => q.quantile)).toEqual([0.5, 0.95]);
    // 200 samples a cohort expect 10 beyond p95: too few to judge the tail; the median decides.
    expect(lat.quantiles?.map((q) => q.outcome)).toEqual(['fail', 'insufficient']);
    expect(v.verdict).toBe('fail');
  });
  it('says what failed, by how much, and with which always-valid test', () => {
    const v = analyzeCanary({
      canary: cohort(100, 861, 139),
      control: cohort(1900, 9020, 980),
      expectedCanaryShare: 0.05,
      rules,
      analysedStages: 3,
    });
    const acc = v.metrics.find((m) => m.metric === 'accuracy')!;
    expect(acc.test).toBe('msprt-two-proportions');
    expect(acc.stageAlpha).toBeCloseTo(0.01 / 3, 12);
    expect(v.reasons[0]).toMatch(
      /^accuracy fail: canary 0\.861 vs control 0\.902, always-valid p 1\.\d\de-3 \(mSPRT, tau 0\.02, stage alpha 3\.33e-3\)$/,
    );
    expect(v.srm?.test).toBe('sequential-beta-binomial');
  });
  it('spends alpha over the analysed stages: significant for one stage is only marginal for three', () => {
    // 0.875 vs 0.9 on 2000 / 20000 outcomes: always-valid p 6.1e-3, between 0.01 / 3 and 0.01.
    const input = {
      canary: cohort(100, 1750, 250),
      control: cohort(1900, 18_000, 2000),
      expectedCanaryShare: 0.05,
      rules,
    };
    expect(analyzeCanary({ ...input, analysedStages: 1 }).verdict).toBe('fail');
    expect(analyzeCanary({ ...input, analysedStages: analysedStageCount([5, 25, 50, 100]) }).verdict).toBe('marginal');
    expect([analysedStageCount([5, 25, 50, 100]), analysedStageCount([5, 25]), analysedStageCount([100])]).toEqual([
      3, 2, 1,
    ]);
  });
  it('reads p50 and p95 from the samplesMs devices send: a heavier tail at the same median fails on p95 only', () => {
    const random = seededRandom(3);
    const ms = (median: number) => Math.exp(Math.log(median) + 0.25 * sampleNormal(random));
    const row = (deviceId: string, samplesMs: number[]) => ({
      id: 1,
      deviceId,
      app: 'a',
      version: 2,
      kind: 'latency',
      payload: { samplesMs } as never,
      at: '',
    });
    // The tail factor stretches only samples above the distribution's p90, so the median stays where it was.
    const p90 = 20 * Math.exp(0.25 * 1.2816);
    const fleet = (devices: number, tail: number) =>
      summarizeCohort(
        Array.from({ length: devices }, (_, d) =>
          row(
            `d${d}`,
            Array.from({ length: 64 }, () => {
              const v = ms(20);
              return v > p90 ? v * tail : v;
            }),
          ),
        ),
        undefined,
        { trimFraction: 0 },
      );
    const control = fleet(400, 1);
    const heavy = analyzeCanary({
      canary: { ...fleet(80, 3), exposedDevices: 80 },
      control: { ...control, exposedDevices: 1520 },
      expectedCanaryShare: 0.05,
      rules,
      analysedStages: 3,
    });
    const lat = heavy.metrics.find((m) => m.metric === 'latency')!;
    const [p50, p95] = lat.quantiles!;
    expect(p50.outcome).not.toBe('fail');
    expect(p95.outcome).toBe('fail');
    expect(p95.canary).toBeGreaterThan(1.5 * p95.control);
    expect(lat.outcome).toBe('fail');
    expect(lat.detail).toContain('worst p95');
    const equal = analyzeCanary({
      canary: { ...fleet(80, 1), exposedDevices: 80 },
      control: { ...control, exposedDevices: 1520 },
      expectedCanaryShare: 0.05,
      rules,
      analysedStages: 3,
    });
    expect(equal.metrics.find((m) => m.metric === 'latency')?.outcome).toBe('pass');
  });
  it('flags drift between the cohorts as marginal', () => {
    const features = (counts: number[]) => ({ x: { min: 0, max: 1, counts } });
    const v = analyzeCanary({
      canary: cohort(50, 900, 100, { features: features([10, 90, 400]) }),
      control: cohort(950, 9000, 1000, { features: features([400, 90, 10]) }),
      expectedCanaryShare: 0.05,
      rules,
    });
    expect(v.metrics.find((m) => m.metric === 'drift')?.outcome).toBe('marginal');
    expect(v.verdict).toBe('marginal');
  });
});

describe('summaries and cohorts', () => {
  it('folds telemetry rows into cohort numbers', () => {
    const row = (deviceId: string, kind: string, payload: Record<string, unknown>, id = 1) => ({
      id,
      deviceId,
      app: 'a',
      version: 2,
      kind,
      payload: payload as never,
      at: '',
    });
    const s = summarizeCohort([
      row('d1', 'model-loaded', {}),
      row('d2', 'model-loaded', {}),
      row('d1', 'model-loaded', {}),
      row('d1', 'feedback', { correct: 8, incorrect: 2 }),
      row('d1', 'predictions', { counts: { '1': 5, '7': 5 } }),
      row('d1', 'error', { where: 'predict', count: 2 }),
      row('d1', 'error', { where: 'load', count: 9 }),
      row('d1', 'latency', { samplesMs: [1, 2, 3] }),
    ]);
    expect(s).toMatchObject({
      exposedDevices: 2,
      correct: 8,
      incorrect: 2,
      predictions: 10,
      predictionErrors: 2,
      latencySamplesMs: [1, 2, 3],
    });
  });
  it('assigns cohorts stably, monotonically in the stage, and independently between rollouts', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => `dev_${i}`);
    const at5 = ids.filter((d) => cohortOf('ro_a', d, 5) === 'canary');
    expect(at5.length).toBeGreaterThan(140); // Binomial(4000, 0.05): 200 +- 14
    expect(at5.length).toBeLessThan(260);
    expect(at5.every((d) => cohortOf('ro_a', d, 25) === 'canary')).toBe(true);
    expect(ids.map((d) => bucketOf('ro_a', d))).toEqual(ids.map((d) => bucketOf('ro_a', d)));
    const overlap = at5.filter((d) => cohortOf('ro_b', d, 5) === 'canary').length;
    expect(overlap).toBeLessThan(30); // independent: ~5% of 200 = 10
  });
});
