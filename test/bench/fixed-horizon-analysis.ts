/**
 * The baseline the rollout-error bench measures against: canary analysis as
 * it was before issue 18 item 3, for the metrics the simulation feeds
 * (accuracy, error rate, sample ratio). A fixed-horizon one-sided
 * two-proportion z-test judged at the rule's alpha at every look, and a
 * chi-squared sample-ratio check at p < 0.001 at every look. Kept only here,
 * to show what re-testing a fixed-horizon p-value every 5 s costs.
 */
import type {
  CanaryAnalysisInput,
  CanaryVerdict,
  MetricEvidence,
  MetricOutcome,
} from '../../coordinator/rollouts/canary-analysis.ts';
import type { MetricName, MetricRule } from '../../coordinator/rollouts/metric-rules.ts';
import { sampleRatioMismatch, twoProportionZTest, SRM_P_THRESHOLD } from '../../shared/stats/index.ts';

// The old test's label; the analysis no longer offers it, so the type does not list it.
const Z_TEST = 'two-proportion-z' as unknown as MetricEvidence['test'];

function proportion(
  metric: MetricName,
  rule: MetricRule,
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
      test: Z_TEST,
      canary: null,
      control: null,
      harm: null,
      pValue: null,
      samples,
      threshold: rule.threshold,
      detail: 'fixed-horizon z-test baseline',
    };
  }
  const higherBetter = rule.direction === 'higher-is-better';
  const r = twoProportionZTest(s1, n1, s2, n2, higherBetter ? 'less' : 'greater');
  const harm = higherBetter ? -r.difference : r.difference;
  const significant = r.pValue < rule.alpha;
  const large = harm >= rule.threshold;
  const outcome: MetricOutcome = significant && large ? 'fail' : significant || large ? 'marginal' : 'pass';
  return {
    metric,
    outcome,
    test: Z_TEST,
    canary: r.p1,
    control: r.p2,
    harm,
    pValue: r.pValue,
    samples,
    threshold: rule.threshold,
    stageAlpha: rule.alpha,
    detail: `fixed-horizon z-test p ${r.pValue}`,
  };
}

/**
 * @example
 * fixedHorizonAnalysis({ canary, control, expectedCanaryShare: 0.05, rules }).verdict
 */
export function fixedHorizonAnalysis(input: CanaryAnalysisInput): CanaryVerdict {
  const { canary: c, control: k, rules } = input;
  const total = c.exposedDevices + k.exposedDevices;
  const share = input.expectedCanaryShare;
  if (
    share < 1 &&
    total * Math.min(share, 1 - share) >= 5 &&
    sampleRatioMismatch(c.exposedDevices, k.exposedDevices, share, SRM_P_THRESHOLD).mismatch
  ) {
    return { verdict: 'srm', srm: null, metrics: [], reasons: ['sample-ratio mismatch'] };
  }
  const metrics: MetricEvidence[] = [];
  if (rules.accuracy.enabled)
    metrics.push(
      proportion('accuracy', rules.accuracy, c.correct, c.correct + c.incorrect, k.correct, k.correct + k.incorrect),
    );
  if (rules.errorRate.enabled)
    metrics.push(
      proportion(
        'errorRate',
        rules.errorRate,
        c.predictionErrors,
        c.predictions + c.predictionErrors,
        k.predictionErrors,
        k.predictions + k.predictionErrors,
      ),
    );
  const any = (o: MetricOutcome) => metrics.some((m) => m.outcome === o);
  const missing = metrics.some((m) => m.outcome === 'insufficient' && rules[m.metric].required);
  const verdict = any('fail') ? 'fail' : missing ? 'insufficient' : any('marginal') ? 'marginal' : 'pass';
  return {
    verdict,
    srm: null,
    metrics,
    reasons: metrics.filter((m) => m.outcome === 'fail').map((m) => `${m.metric} fail`),
  };
}
