/**
 * Automated canary analysis: canary against concurrent control, per metric an
 * always-valid sequential test (sequential-test.ts), a practical threshold and
 * a minimum sample count, and a sample-ratio-mismatch check in front of
 * everything (if exposure does not match assignment the cohorts are not
 * comparable, whatever the metrics say).
 *
 * The service re-runs this every few seconds on the stage's growing data, so
 * every p-value here is always valid: the chance that an equal candidate is
 * EVER significantly worse on a metric, at any look of any stage, is at most
 * that metric's alpha. Each analysed stage reads fresh data and spends
 * alpha / analysedStages; latency tests p50 and p95, each at half of that.
 *
 * Per metric: canary significantly worse (always-valid p < the stage's alpha)
 * by at least the threshold -> fail; significantly worse by less, or worse by
 * at least the threshold without significance -> marginal; else pass; too few
 * samples in either cohort, or too few distinct devices behind them
 * (`minDevices`) -> insufficient (no verdict from noise, nor from a handful of
 * devices). Drift (PSI between the cohorts' feature histograms above the
 * threshold) can only flag marginal: it says the inputs differ, not that the
 * model is worse.
 */
import { populationStabilityIndex, rebin, SRM_P_THRESHOLD, type BinnedCounts } from '../../shared/stats/index.ts';
import { nameRecord, type CohortSummary } from './cohort-summary.ts';
import { DEFAULT_MIN_DEVICES, type MetricName, type MetricRule, type MetricRules } from './metric-rules.ts';
import {
  msprtQuantiles,
  msprtTwoProportions,
  sequentialSampleRatio,
  SRM_PRIOR_CONCENTRATION,
  type QuantileHarm,
} from './sequential-test.ts';

export type MetricOutcome = 'pass' | 'marginal' | 'fail' | 'insufficient';
export type Verdict = MetricOutcome | 'srm';

// Type aliases, not interfaces, here and below: the verdict is stored and served as
// JSON (RolloutVerdict in shared/protocol/rollouts.ts), and only aliases fit its index signatures.

/** One quantile's comparison (latency: p50 and p95; confidence: the median). */
export type QuantileEvidence = {
  quantile: number;
  canary: number;
  control: number;
  /** Share of each cohort's samples above the pooled quantile. */
  canaryShareAbove: number;
  controlShareAbove: number;
  harm: number;
  pValue: number;
  outcome: MetricOutcome;
};

export type MetricEvidence = {
  metric: MetricName;
  outcome: MetricOutcome;
  test: 'msprt-two-proportions' | 'msprt-quantile' | 'psi';
  canary: number | null;
  control: number | null;
  /** Harm in the metric's threshold units: positive = canary worse. */
  harm: number | null;
  /** Always-valid one-sided p-value for "canary worse" (the smallest over quantiles, times their count). */
  pValue: number | null;
  samples: { canary: number; control: number };
  threshold: number;
  /** Scale of the mSPRT's half-normal mixing prior on the harm (= threshold); null for PSI. */
  tau?: number | null;
  /** The level this stage's look is judged at: alpha / analysed stages. */
  stageAlpha?: number | null;
  quantiles?: QuantileEvidence[];
  detail: string;
};

export type SrmEvidence = {
  canaryExposed: number;
  controlExposed: number;
  expectedCanaryShare: number;
  observedCanaryShare: number;
  /** Always-valid p-value of the sequential (Beta-binomial Bayes factor) sample-ratio test. */
  pValue: number;
  test: 'sequential-beta-binomial';
  mismatch: boolean;
};

export type CanaryVerdict = {
  verdict: Verdict;
  srm: SrmEvidence | null;
  metrics: MetricEvidence[];
  reasons: string[];
};

export interface CanaryAnalysisInput {
  canary: CohortSummary;
  control: CohortSummary;
  /** The share of devices assigned to the canary, in (0, 1]; 1 skips the SRM check. */
  expectedCanaryShare: number;
  rules: MetricRules;
  /**
   * How many stages of the rollout are analysed, each on fresh data
   * (`analysedStageCount(rollout.stages)`): each spends alpha / this, so the
   * whole rollout stays within alpha. Default 1 (one stage).
   */
  analysedStages?: number;
  /** Exposed devices per cohort below which no SRM verdict is drawn. */
  minExposedForSrm?: number;
}

function judge(rule: MetricRule, harm: number, pWorse: number, alpha: number): MetricOutcome {
  const significant = pWorse < alpha;
  const large = harm >= rule.threshold;
  if (significant && large) return 'fail';
  if (significant || large) return 'marginal';
  return 'pass';
}

const fmt = (v: number) => (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(2));
const fmtMs = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1));
const tail = (p: number, rule: MetricRule, alpha: number) =>
  `always-valid p ${fmt(p)} (mSPRT, tau ${rule.threshold}, stage alpha ${fmt(alpha)})`;
const RANK: Record<MetricOutcome, number> = { insufficient: 0, pass: 1, marginal: 2, fail: 3 };

/**
 * Expected events (successes or failures, whichever is rarer, at the pooled
 * rate) each cohort needs before a rate's significance is trusted: the mSPRT
 * rests on the normal approximation, and a rare count's upper tail is heavier
 * than the normal's. Below it a rate can pass or be marginal (large harm,
 * significance unclaimed), never fail, so a perfect model still passes.
 * Simulated (test/bench/rollout-errors.bench.ts): with no such floor a 1%
 * error rate at a 5% canary was failed by chance in 3 of 200 equal rollouts
 * on 5 to 13 canary errors.
 */
export const MIN_EXPECTED_EVENTS = 30;

function proportionMetric(
  metric: MetricName,
  rule: MetricRule,
  alpha: number,
  s1: number,
  n1: number,
  s2: number,
  n2: number,
): MetricEvidence {
  const samples = { canary: n1, control: n2 };
  if (n1 < rule.minSamples || n2 < rule.minSamples) {
    return {
      metric,
      outcome: 'insufficient',
      test: 'msprt-two-proportions',
      canary: n1 > 0 ? s1 / n1 : null,
      control: n2 > 0 ? s2 / n2 : null,
      harm: null,
      pValue: null,
      samples,
      threshold: rule.threshold,
      tau: rule.threshold,
      stageAlpha: alpha,
      detail: `needs ${rule.minSamples} per cohort, has ${n1} canary / ${n2} control`,
    };
  }
  // One literal, no spreads: this runs at every look, and object spread was most of its cost.
  const r = msprtTwoProportions(s1, n1, s2, n2, rule.direction, rule.threshold);
  const rarer = Math.min(r.p1 * n1 + r.p2 * n2, (1 - r.p1) * n1 + (1 - r.p2) * n2) / (n1 + n2);
  const trusted = n1 * rarer >= MIN_EXPECTED_EVENTS && n2 * rarer >= MIN_EXPECTED_EVENTS;
  const outcome = trusted ? judge(rule, r.harm, r.pValue, alpha) : r.harm >= rule.threshold ? 'marginal' : 'pass';
  const caveat = trusted
    ? ''
    : `; significance not claimed below ${MIN_EXPECTED_EVENTS} expected events per cohort (${fmt(n1 * rarer)} canary / ${fmt(n2 * rarer)} control)`;
  return {
    metric,
    outcome,
    test: 'msprt-two-proportions',
    canary: r.p1,
    control: r.p2,
    harm: r.harm,
    pValue: r.pValue,
    samples,
    threshold: rule.threshold,
    tau: rule.threshold,
    stageAlpha: alpha,
    detail: `canary ${fmt(r.p1)} vs control ${fmt(r.p2)}, ${tail(r.pValue, rule, alpha)}${caveat}`,
  };
}

function quantileEvidence(r: QuantileHarm, outcome: MetricOutcome): QuantileEvidence {
  return {
    quantile: r.quantile,
    canary: r.canaryValue,
    control: r.controlValue,
    canaryShareAbove: r.canaryShareAbove,
    controlShareAbove: r.controlShareAbove,
    harm: r.harm,
    pValue: r.pValue,
    outcome,
  };
}

/** Quantile tests (sequential-test.ts) at each of `quantiles`, each at alpha / their count; the worst decides. */
function quantileMetric(
  metric: MetricName,
  rule: MetricRule,
  alpha: number,
  x: readonly number[],
  y: readonly number[],
  quantiles: readonly number[],
  unit: (v: number) => string,
): MetricEvidence {
  const base = {
    metric,
    test: 'msprt-quantile' as const,
    samples: { canary: x.length, control: y.length },
    threshold: rule.threshold,
    tau: rule.threshold,
    stageAlpha: alpha,
  };
  const fewest = Math.min(x.length, y.length);
  // A quantile is judged once each cohort expects MIN_EXPECTED_EVENTS samples beyond it (p95: 600 samples), as for rates.
  const judged = (q: number) => fewest * Math.min(q, 1 - q) >= MIN_EXPECTED_EVENTS;
  if (fewest < rule.minSamples || !quantiles.some(judged)) {
    const need = Math.max(
      rule.minSamples,
      Math.ceil(MIN_EXPECTED_EVENTS / Math.max(...quantiles.map((q) => Math.min(q, 1 - q)))),
    );
    return {
      ...base,
      outcome: 'insufficient',
      canary: null,
      control: null,
      harm: null,
      pValue: null,
      detail: `needs ${need} samples per cohort, has ${x.length} canary / ${y.length} control`,
    };
  }
  // Alpha is split over every quantile named, judged yet or not, so the split never depends on the data.
  const each = alpha / quantiles.length;
  const evidence = msprtQuantiles(x, y, quantiles, rule.direction, rule.threshold).map((r) =>
    quantileEvidence(r, judged(r.quantile) ? judge(rule, r.harm, r.pValue, each) : 'insufficient'),
  );
  let worst = evidence.findIndex((e) => e.outcome !== 'insufficient');
  for (let i = 0; i < evidence.length; i++) {
    const [a, b] = [evidence[i], evidence[worst]];
    if (
      a.outcome !== 'insufficient' &&
      (RANK[a.outcome] > RANK[b.outcome] || (RANK[a.outcome] === RANK[b.outcome] && a.pValue < b.pValue))
    )
      worst = i;
  }
  const w = evidence[worst];
  const pValue = Math.min(
    1,
    Math.min(...evidence.filter((e) => e.outcome !== 'insufficient').map((e) => e.pValue)) * quantiles.length,
  );
  const name = (q: number) => `p${Math.round(q * 100)}`;
  const parts = evidence.map(
    (e) =>
      `${name(e.quantile)} canary ${unit(e.canary)} vs control ${unit(e.control)} (${e.outcome === 'insufficient' ? 'too few samples to judge' : `${(100 * e.canaryShareAbove).toFixed(1)}% vs ${(100 * e.controlShareAbove).toFixed(1)}% above pooled ${name(e.quantile)}, p ${fmt(e.pValue)}`})`,
  );
  const detail = `${parts.join('; ')}; worst ${name(w.quantile)}, ${tail(w.pValue, rule, each)}`;
  return {
    ...base,
    outcome: w.outcome,
    canary: evidence[0].canary,
    control: evidence[0].control,
    harm: w.harm,
    pValue,
    quantiles: evidence,
    detail,
  };
}

/** Latency quantiles compared: the typical inference and the slow tail. */
export const LATENCY_QUANTILES = [0.5, 0.95] as const;

/** Values at bin centres, for rank tests over histograms. */
export function histogramValues(h: BinnedCounts | null, maxValues = 20_000): number[] {
  if (!h) return [];
  const total = h.counts.reduce((a, b) => a + b, 0);
  const scale = total > maxValues ? maxValues / total : 1;
  const width = (h.max - h.min) / h.counts.length;
  const out: number[] = [];
  h.counts.forEach((c, i) => {
    for (let k = 0; k < Math.round(c * scale); k++) out.push(h.min + (i + 0.5) * width);
  });
  return out;
}

/** PSI per feature of `actual` against `reference`, on the reference's grid. */
export function featurePsi(
  reference: Record<string, BinnedCounts>,
  actual: Record<string, BinnedCounts>,
): Record<string, number> {
  // Feature names come from devices: own-property reads only, into a null-prototype record.
  const out = nameRecord<number>();
  for (const [name, ref] of Object.entries(reference)) {
    const act = Object.hasOwn(actual, name) ? actual[name] : undefined;
    if (!act || ref.counts.every((c) => c === 0) || act.counts.every((c) => c === 0)) continue;
    const lo = Math.min(ref.min, act.min);
    const hi = Math.max(ref.max, act.max);
    const bins = Math.max(ref.counts.length, act.counts.length);
    out[name] = populationStabilityIndex(rebin(ref, lo, hi, bins), rebin(act, lo, hi, bins));
  }
  return out;
}

const countOf = (features: Record<string, BinnedCounts>) =>
  Math.min(...Object.values(features).map((h) => h.counts.reduce((a, b) => a + b, 0)), Number.POSITIVE_INFINITY);

function driftMetric(rule: MetricRule, canary: CohortSummary, control: CohortSummary): MetricEvidence {
  const n1 = Object.keys(canary.features).length ? countOf(canary.features) : 0;
  const n2 = Object.keys(control.features).length ? countOf(control.features) : 0;
  const base = {
    metric: 'drift' as const,
    test: 'psi' as const,
    samples: { canary: n1, control: n2 },
    threshold: rule.threshold,
    pValue: null,
    control: null,
  };
  if (n1 < rule.minSamples || n2 < rule.minSamples) {
    return {
      ...base,
      outcome: 'insufficient',
      canary: null,
      harm: null,
      detail: `needs ${rule.minSamples} feature observations per cohort, has ${n1} canary / ${n2} control`,
    };
  }
  const psi = featurePsi(control.features, canary.features);
  const worst = Object.entries(psi).sort((a, b) => b[1] - a[1])[0];
  if (!worst)
    return { ...base, outcome: 'insufficient', canary: null, harm: null, detail: 'no feature histograms in common' };
  const drifted = Object.entries(psi)
    .filter(([, v]) => v > rule.threshold)
    .map(([k]) => k);
  return {
    ...base,
    outcome: drifted.length ? 'marginal' : 'pass',
    canary: worst[1],
    harm: worst[1],
    detail: drifted.length
      ? `PSI > ${rule.threshold} on ${drifted.join(', ')} (max ${fmt(worst[1])} on ${worst[0]})`
      : `max PSI ${fmt(worst[1])} on ${worst[0]}`,
  };
}

/** A metric resting on fewer distinct devices than its rule asks is insufficient, whatever its counts say. */
function requireDevices(
  m: MetricEvidence,
  rule: MetricRule,
  canary: CohortSummary,
  control: CohortSummary,
): MetricEvidence {
  if (m.outcome === 'insufficient' || !canary.devices || !control.devices) return m;
  const need = rule.minDevices ?? DEFAULT_MIN_DEVICES;
  const d1 = canary.devices[m.metric] ?? 0;
  const d2 = control.devices[m.metric] ?? 0;
  if (d1 >= need && d2 >= need) return m;
  return {
    ...m,
    outcome: 'insufficient',
    detail: `needs ${need} distinct devices per cohort, has ${d1} canary / ${d2} control (${m.detail})`,
  };
}

/**
 * @example
 * const v = analyzeCanary({ canary, control, expectedCanaryShare: 0.05, rules: resolveMetricRules() });
 * if (v.verdict === 'fail') rollBack(v.reasons);
 */
export function analyzeCanary(input: CanaryAnalysisInput): CanaryVerdict {
  const { canary, control, rules } = input;
  const stages = Math.max(1, Math.floor(input.analysedStages ?? 1));
  const stageAlpha = (m: MetricName) => rules[m].alpha / stages;
  let srm: SrmEvidence | null = null;
  const minExposed = input.minExposedForSrm ?? 5;
  const total = canary.exposedDevices + control.exposedDevices;
  if (
    input.expectedCanaryShare < 1 &&
    total > 0 &&
    total * Math.min(input.expectedCanaryShare, 1 - input.expectedCanaryShare) >= minExposed
  ) {
    const pValue = sequentialSampleRatio(canary.exposedDevices, control.exposedDevices, input.expectedCanaryShare);
    srm = {
      canaryExposed: canary.exposedDevices,
      controlExposed: control.exposedDevices,
      expectedCanaryShare: input.expectedCanaryShare,
      observedCanaryShare: canary.exposedDevices / total,
      pValue,
      test: 'sequential-beta-binomial',
      mismatch: pValue < SRM_P_THRESHOLD,
    };
  }
  const metrics: MetricEvidence[] = [];
  const on = (m: MetricName) => rules[m].enabled;
  if (on('accuracy'))
    metrics.push(
      proportionMetric(
        'accuracy',
        rules.accuracy,
        stageAlpha('accuracy'),
        canary.correct,
        canary.correct + canary.incorrect,
        control.correct,
        control.correct + control.incorrect,
      ),
    );
  if (on('errorRate')) {
    metrics.push(
      proportionMetric(
        'errorRate',
        rules.errorRate,
        stageAlpha('errorRate'),
        canary.predictionErrors,
        canary.predictions + canary.predictionErrors,
        control.predictionErrors,
        control.predictions + control.predictionErrors,
      ),
    );
  }
  if (on('latency'))
    metrics.push(
      quantileMetric(
        'latency',
        rules.latency,
        stageAlpha('latency'),
        canary.latencySamplesMs,
        control.latencySamplesMs,
        LATENCY_QUANTILES,
        (v) => `${fmtMs(v)} ms`,
      ),
    );
  if (on('confidence'))
    metrics.push(
      quantileMetric(
        'confidence',
        rules.confidence,
        stageAlpha('confidence'),
        histogramValues(canary.confidence),
        histogramValues(control.confidence),
        [0.5],
        fmt,
      ),
    );
  if (on('drift')) metrics.push(driftMetric(rules.drift, canary, control));
  if (on('absoluteError')) {
    const mae = (v: readonly number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN);
    const evidence = quantileMetric(
      'absoluteError',
      rules.absoluteError,
      stageAlpha('absoluteError'),
      canary.absoluteErrors ?? [],
      control.absoluteErrors ?? [],
      [0.5],
      fmt,
    );
    metrics.push({
      ...evidence,
      detail: `${evidence.detail}; mean absolute error canary ${fmt(mae(canary.absoluteErrors ?? []))}, control ${fmt(mae(control.absoluteErrors ?? []))}`,
    });
  }

  for (let i = 0; i < metrics.length; i++)
    metrics[i] = requireDevices(metrics[i], rules[metrics[i].metric], canary, control);

  const reasons: string[] = [];
  if (srm?.mismatch) {
    reasons.push(
      `sample-ratio mismatch: ${srm.canaryExposed} canary / ${srm.controlExposed} control exposed, expected canary share ${fmt(srm.expectedCanaryShare)} (always-valid p ${fmt(srm.pValue)} < ${SRM_P_THRESHOLD}, sequential Beta-binomial test, k ${SRM_PRIOR_CONCENTRATION})`,
    );
    return { verdict: 'srm', srm, metrics, reasons };
  }
  const failed = metrics.filter((m) => m.outcome === 'fail');
  const marginal = metrics.filter((m) => m.outcome === 'marginal');
  const missing = metrics.filter((m) => m.outcome === 'insufficient' && rules[m.metric].required);
  for (const m of [...failed, ...marginal, ...missing]) reasons.push(`${m.metric} ${m.outcome}: ${m.detail}`);
  const judged = metrics.filter((m) => m.outcome !== 'insufficient');
  const verdict: Verdict = failed.length
    ? 'fail'
    : missing.length || judged.length === 0
      ? 'insufficient'
      : marginal.length
        ? 'marginal'
        : 'pass';
  if (verdict === 'insufficient' && missing.length === 0) reasons.push('no metric has enough samples yet');
  return { verdict, srm, metrics, reasons };
}
