/**
 * Automated canary analysis: canary against concurrent control, per metric a
 * real test, a practical threshold and a minimum sample count, and a
 * sample-ratio-mismatch check in front of everything (if exposure does not
 * match assignment the cohorts are not comparable, whatever the metrics say).
 *
 * Per metric: canary significantly worse (one-sided p < alpha) by at least
 * the threshold -> fail; significantly worse by less, or worse by at least
 * the threshold without significance -> marginal; else pass; too few samples
 * in either cohort, or too few distinct devices behind them (`minDevices`)
 * -> insufficient (no verdict from noise, nor from a handful of devices). Drift (PSI between
 * the cohorts' feature histograms above the threshold) can only flag
 * marginal: it says the inputs differ, not that the model is worse.
 */
import {
  mannWhitneyU, populationStabilityIndex, rebin, sampleRatioMismatch, twoProportionZTest, SRM_P_THRESHOLD, type BinnedCounts,
} from '../../shared/stats/index.ts';
import { nameRecord, type CohortSummary } from './cohort-summary.ts';
import { DEFAULT_MIN_DEVICES, type MetricName, type MetricRule, type MetricRules } from './metric-rules.ts';

export type MetricOutcome = 'pass' | 'marginal' | 'fail' | 'insufficient';
export type Verdict = MetricOutcome | 'srm';

export interface MetricEvidence {
  metric: MetricName;
  outcome: MetricOutcome;
  test: 'two-proportion-z' | 'mann-whitney-u' | 'psi';
  canary: number | null;
  control: number | null;
  /** Harm in the metric's threshold units: positive = canary worse. */
  harm: number | null;
  pValue: number | null;
  samples: { canary: number; control: number };
  threshold: number;
  detail: string;
}

export interface SrmEvidence {
  canaryExposed: number;
  controlExposed: number;
  expectedCanaryShare: number;
  observedCanaryShare: number;
  statistic: number;
  pValue: number;
  mismatch: boolean;
}

export interface CanaryVerdict {
  verdict: Verdict;
  srm: SrmEvidence | null;
  metrics: MetricEvidence[];
  reasons: string[];
}

export interface CanaryAnalysisInput {
  canary: CohortSummary;
  control: CohortSummary;
  /** The share of devices assigned to the canary, in (0, 1]; 1 skips the SRM check. */
  expectedCanaryShare: number;
  rules: MetricRules;
  /** Exposed devices per cohort below which no SRM verdict is drawn (chi-squared needs expected counts >= 5). */
  minExposedForSrm?: number;
}

function judge(rule: MetricRule, harm: number, pWorse: number): MetricOutcome {
  const significant = pWorse < rule.alpha;
  const large = harm >= rule.threshold;
  if (significant && large) return 'fail';
  if (significant || large) return 'marginal';
  return 'pass';
}

const fmt = (v: number) => (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(2));

function proportionMetric(metric: MetricName, rule: MetricRule, s1: number, n1: number, s2: number, n2: number): MetricEvidence {
  const base = { metric, test: 'two-proportion-z' as const, samples: { canary: n1, control: n2 }, threshold: rule.threshold };
  if (n1 < rule.minSamples || n2 < rule.minSamples) {
    return { ...base, outcome: 'insufficient', canary: n1 > 0 ? s1 / n1 : null, control: n2 > 0 ? s2 / n2 : null, harm: null, pValue: null, detail: `needs ${rule.minSamples} per cohort, has ${n1} canary / ${n2} control` };
  }
  const higherBetter = rule.direction === 'higher-is-better';
  const r = twoProportionZTest(s1, n1, s2, n2, higherBetter ? 'less' : 'greater');
  const harm = higherBetter ? -r.difference : r.difference;
  const outcome = judge(rule, harm, r.pValue);
  return { ...base, outcome, canary: r.p1, control: r.p2, harm, pValue: r.pValue, detail: `canary ${fmt(r.p1)} vs control ${fmt(r.p2)}, one-sided p ${fmt(r.pValue)}` };
}

function rankMetric(metric: MetricName, rule: MetricRule, x: readonly number[], y: readonly number[]): MetricEvidence {
  const base = { metric, test: 'mann-whitney-u' as const, samples: { canary: x.length, control: y.length }, threshold: rule.threshold };
  if (x.length < rule.minSamples || y.length < rule.minSamples) {
    return { ...base, outcome: 'insufficient', canary: null, control: null, harm: null, pValue: null, detail: `needs ${rule.minSamples} samples per cohort, has ${x.length} canary / ${y.length} control` };
  }
  const higherBetter = rule.direction === 'higher-is-better';
  const r = mannWhitneyU(x, y, higherBetter ? 'less' : 'greater');
  const shift = r.probabilityGreater - 0.5;
  const harm = higherBetter ? -shift : shift;
  const median = (v: readonly number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  return { ...base, outcome: judge(rule, harm, r.pValue), canary: median(x), control: median(y), harm, pValue: r.pValue, detail: `P(canary > control) ${fmt(r.probabilityGreater)}, one-sided p ${fmt(r.pValue)}` };
}

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
export function featurePsi(reference: Record<string, BinnedCounts>, actual: Record<string, BinnedCounts>): Record<string, number> {
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
  const base = { metric: 'drift' as const, test: 'psi' as const, samples: { canary: n1, control: n2 }, threshold: rule.threshold, pValue: null, control: null };
  if (n1 < rule.minSamples || n2 < rule.minSamples) {
    return { ...base, outcome: 'insufficient', canary: null, harm: null, detail: `needs ${rule.minSamples} feature observations per cohort, has ${n1} canary / ${n2} control` };
  }
  const psi = featurePsi(control.features, canary.features);
  const worst = Object.entries(psi).sort((a, b) => b[1] - a[1])[0];
  if (!worst) return { ...base, outcome: 'insufficient', canary: null, harm: null, detail: 'no feature histograms in common' };
  const drifted = Object.entries(psi).filter(([, v]) => v > rule.threshold).map(([k]) => k);
  return {
    ...base, outcome: drifted.length ? 'marginal' : 'pass', canary: worst[1], harm: worst[1],
    detail: drifted.length ? `PSI > ${rule.threshold} on ${drifted.join(', ')} (max ${fmt(worst[1])} on ${worst[0]})` : `max PSI ${fmt(worst[1])} on ${worst[0]}`,
  };
}

/** A metric resting on fewer distinct devices than its rule asks is insufficient, whatever its counts say. */
function requireDevices(m: MetricEvidence, rule: MetricRule, canary: CohortSummary, control: CohortSummary): MetricEvidence {
  if (m.outcome === 'insufficient' || !canary.devices || !control.devices) return m;
  const need = rule.minDevices ?? DEFAULT_MIN_DEVICES;
  const d1 = canary.devices[m.metric] ?? 0;
  const d2 = control.devices[m.metric] ?? 0;
  if (d1 >= need && d2 >= need) return m;
  return { ...m, outcome: 'insufficient', detail: `needs ${need} distinct devices per cohort, has ${d1} canary / ${d2} control (${m.detail})` };
}

/**
 * @example
 * const v = analyzeCanary({ canary, control, expectedCanaryShare: 0.05, rules: resolveMetricRules() });
 * if (v.verdict === 'fail') rollBack(v.reasons);
 */
export function analyzeCanary(input: CanaryAnalysisInput): CanaryVerdict {
  const { canary, control, rules } = input;
  let srm: SrmEvidence | null = null;
  const minExposed = input.minExposedForSrm ?? 5;
  const total = canary.exposedDevices + control.exposedDevices;
  if (input.expectedCanaryShare < 1 && total > 0 && total * Math.min(input.expectedCanaryShare, 1 - input.expectedCanaryShare) >= minExposed) {
    const r = sampleRatioMismatch(canary.exposedDevices, control.exposedDevices, input.expectedCanaryShare, SRM_P_THRESHOLD);
    srm = { canaryExposed: canary.exposedDevices, controlExposed: control.exposedDevices, expectedCanaryShare: input.expectedCanaryShare, observedCanaryShare: r.observedCanaryShare, statistic: r.statistic, pValue: r.pValue, mismatch: r.mismatch };
  }
  const metrics: MetricEvidence[] = [];
  const on = (m: MetricName) => rules[m].enabled;
  if (on('accuracy')) metrics.push(proportionMetric('accuracy', rules.accuracy, canary.correct, canary.correct + canary.incorrect, control.correct, control.correct + control.incorrect));
  if (on('errorRate')) {
    metrics.push(proportionMetric('errorRate', rules.errorRate, canary.predictionErrors, canary.predictions + canary.predictionErrors, control.predictionErrors, control.predictions + control.predictionErrors));
  }
  if (on('latency')) metrics.push(rankMetric('latency', rules.latency, canary.latencySamplesMs, control.latencySamplesMs));
  if (on('confidence')) metrics.push(rankMetric('confidence', rules.confidence, histogramValues(canary.confidence), histogramValues(control.confidence)));
  if (on('drift')) metrics.push(driftMetric(rules.drift, canary, control));

  for (let i = 0; i < metrics.length; i++) metrics[i] = requireDevices(metrics[i], rules[metrics[i].metric], canary, control);

  const reasons: string[] = [];
  if (srm?.mismatch) {
    reasons.push(`sample-ratio mismatch: ${srm.canaryExposed} canary / ${srm.controlExposed} control exposed, expected canary share ${fmt(srm.expectedCanaryShare)} (p ${fmt(srm.pValue)} < ${SRM_P_THRESHOLD})`);
    return { verdict: 'srm', srm, metrics, reasons };
  }
  const failed = metrics.filter((m) => m.outcome === 'fail');
  const marginal = metrics.filter((m) => m.outcome === 'marginal');
  const missing = metrics.filter((m) => m.outcome === 'insufficient' && rules[m.metric].required);
  for (const m of [...failed, ...marginal, ...missing]) reasons.push(`${m.metric} ${m.outcome}: ${m.detail}`);
  const judged = metrics.filter((m) => m.outcome !== 'insufficient');
  const verdict: Verdict = failed.length ? 'fail' : missing.length || judged.length === 0 ? 'insufficient' : marginal.length ? 'marginal' : 'pass';
  if (verdict === 'insufficient' && missing.length === 0) reasons.push('no metric has enough samples yet');
  return { verdict, srm, metrics, reasons };
}
