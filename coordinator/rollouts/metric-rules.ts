/**
 * What canary analysis compares and how strictly: per metric a direction, a
 * practical threshold (the smallest harm worth acting on), a significance
 * level and a minimum sample count per cohort. Operators override parts of
 * it when starting a rollout; the resolved rules are stored with it.
 */
import { z } from 'zod';
import type { OutputKind } from '../../shared/protocol/index.ts';

export const METRIC_NAMES = ['accuracy', 'errorRate', 'latency', 'confidence', 'drift', 'absoluteError'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export const MetricRuleSchema = z.strictObject({
  direction: z.enum(['higher-is-better', 'lower-is-better']),
  /**
   * accuracy / errorRate: absolute difference of rates; latency / confidence:
   * difference between the cohorts' shares of samples above the pooled
   * quantile (latency p50 and p95, confidence the median; ties count half);
   * drift: PSI. Also the scale tau of the mSPRT's mixing prior on the harm:
   * the test is most sensitive near the harm worth acting on.
   */
  threshold: z.number().min(0),
  /** Per cohort: outcomes (accuracy), predictions (errorRate), samples (latency, confidence), feature counts (drift). */
  minSamples: z.int().min(1),
  /**
   * Distinct devices per cohort behind the metric below which it is
   * insufficient: a verdict must rest on many devices, not on one device's
   * self-reported totals. Optional so rules stored before it existed still parse.
   */
  minDevices: z.int().min(1).optional(),
  /**
   * One-sided level for "canary is worse" over the WHOLE rollout: every look
   * of every analysed stage together (always-valid tests, alpha split evenly
   * over stages). A rollback needs one metric to fail, so an equal candidate
   * is rolled back with probability at most the sum of the enabled metrics' alphas.
   */
  alpha: z.number().gt(0).lt(1),
  /** An insufficient required metric makes the whole verdict insufficient. */
  required: z.boolean(),
  enabled: z.boolean(),
});
export type MetricRule = z.infer<typeof MetricRuleSchema>;
export type MetricRules = Record<MetricName, MetricRule>;

/** Distinct devices per cohort a metric needs when its rule does not say. */
export const DEFAULT_MIN_DEVICES = 5;

export const DEFAULT_METRIC_RULES: MetricRules = {
  accuracy: {
    direction: 'higher-is-better',
    threshold: 0.02,
    minSamples: 100,
    minDevices: DEFAULT_MIN_DEVICES,
    alpha: 0.01,
    required: true,
    enabled: true,
  },
  errorRate: {
    direction: 'lower-is-better',
    threshold: 0.01,
    minSamples: 100,
    minDevices: DEFAULT_MIN_DEVICES,
    alpha: 0.01,
    required: false,
    enabled: true,
  },
  latency: {
    direction: 'lower-is-better',
    threshold: 0.05,
    minSamples: 30,
    minDevices: DEFAULT_MIN_DEVICES,
    alpha: 0.01,
    required: false,
    enabled: true,
  },
  confidence: {
    direction: 'higher-is-better',
    threshold: 0.1,
    minSamples: 30,
    minDevices: DEFAULT_MIN_DEVICES,
    alpha: 0.01,
    required: false,
    enabled: true,
  },
  drift: {
    direction: 'lower-is-better',
    threshold: 0.2,
    minSamples: 100,
    minDevices: DEFAULT_MIN_DEVICES,
    alpha: 0.01,
    required: false,
    enabled: true,
  },
  /**
   * Regression models: the absolute errors of predictions against the
   * targets the app recorded (the canary's share above the pooled median, as
   * for latency; each cohort's mean absolute error is shown). Off by default;
   * `rulesForOutput` turns it on, and accuracy off, for a regression candidate.
   */
  absoluteError: {
    direction: 'lower-is-better',
    threshold: 0.05,
    minSamples: 100,
    minDevices: DEFAULT_MIN_DEVICES,
    alpha: 0.01,
    required: true,
    enabled: false,
  },
};

/**
 * The default rules for a candidate's output kind (its model spec): a
 * regression model has no right-or-wrong feedback, so its labelled metric is
 * the absolute error, not accuracy. Operator overrides still win.
 *
 * @example
 * rulesForOutput('regression').absoluteError.enabled // true
 */
export function rulesForOutput(kind: OutputKind, input: MetricRulesInput = {}): MetricRules {
  if (kind !== 'regression') return resolveMetricRules(input);
  return resolveMetricRules({
    ...input,
    accuracy: { enabled: false, required: false, ...input.accuracy },
    absoluteError: { enabled: true, ...input.absoluteError },
  });
}

/** Partial overrides as the admin API takes them. */
const PartialRule = MetricRuleSchema.partial().optional();
export const MetricRulesInputSchema = z.strictObject({
  accuracy: PartialRule,
  errorRate: PartialRule,
  latency: PartialRule,
  confidence: PartialRule,
  drift: PartialRule,
  absoluteError: PartialRule,
});
export type MetricRulesInput = Partial<Record<MetricName, Partial<MetricRule>>>;

/**
 * @example
 * resolveMetricRules({ accuracy: { minSamples: 20 } }).accuracy.threshold // 0.02
 */
export function resolveMetricRules(input: MetricRulesInput = {}): MetricRules {
  const out = {} as MetricRules;
  for (const name of METRIC_NAMES)
    out[name] = MetricRuleSchema.parse({ ...DEFAULT_METRIC_RULES[name], ...input[name] });
  return out;
}
