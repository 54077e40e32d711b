/**
 * Rollout error rates under continuous monitoring (issue 18 item 3): 1,000
 * simulated rollouts per scenario (rollout-simulation.ts), each evaluated
 * every 5 s through the default stages [5, 25, 50, 100] with a 1-hour
 * minimum per stage, by the real canary analysis and by the fixed-horizon
 * baseline it replaced. Reports, next to the configured level, how often an
 * equal candidate is rolled back (false rollback), how often a worse one is
 * promoted (false promotion), and how long a 1, 2 and 3 point accuracy
 * regression takes to be caught. FLOCK_BENCH_ROLLOUTS changes the count.
 */
import { analyzeCanary } from '../../coordinator/rollouts/canary-analysis.ts';
import { resolveMetricRules } from '../../coordinator/rollouts/metric-rules.ts';
import { median, type Benchmark, type BenchTable, type BenchValue } from './bench-types.ts';
import { fixedHorizonAnalysis } from './fixed-horizon-analysis.ts';
import {
  binomialUpperMargin,
  DEFAULT_FLEET,
  latencyNullCrossings,
  runScenario,
  SERVICE_DEFAULTS,
  type Analyze,
  type ScenarioSummary,
} from './rollout-simulation.ts';

const ROLLOUTS = Number(process.env.FLOCK_BENCH_ROLLOUTS ?? 1000);
const LATENCY_RUNS = Math.max(20, Math.round(ROLLOUTS / 5));
const LATENCY_LEVEL = 0.1;
const SEED = 18_003;
const off = { enabled: false };
// The simulated fleet reports labelled outcomes and predictions only; the other metrics would be insufficient at every look.
const rules = resolveMetricRules({ latency: off, confidence: off, drift: off });
const rollbackLevel = rules.accuracy.alpha + rules.errorRate.alpha;

const analyses: [string, Analyze][] = [
  ['always-valid (mSPRT)', analyzeCanary],
  ['fixed-horizon z (old)', fixedHorizonAnalysis],
];

function percentile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const rate = (k: number, n: number) => k / n;

function equalRow(name: string, r: ScenarioSummary): Record<string, BenchValue> {
  return {
    analysis: name,
    rollouts: r.rollouts,
    'configured alpha (acc + err)': rollbackLevel,
    'false rollbacks': r.ends.rolled_back,
    'false-rollback rate': rate(r.ends.rolled_back, r.rollouts),
    'accuracy false fails': r.failedBy.accuracy ?? 0,
    'errorRate false fails': r.failedBy.errorRate ?? 0,
    'halts (SRM)': r.ends.halted,
    promoted: r.ends.promoted,
    stalled: r.ends.stalled,
  };
}

function regressionRow(name: string, points: number, r: ScenarioSummary): Record<string, BenchValue> {
  const looks = SERVICE_DEFAULTS.evaluateIntervalMs / 1000;
  return {
    analysis: name,
    'accuracy drop (points)': points,
    rollouts: r.rollouts,
    'rolled back': rate(r.ends.rolled_back, r.rollouts),
    'false-promotion rate': rate(r.ends.promoted, r.rollouts),
    stalled: rate(r.ends.stalled, r.rollouts),
    'rollback median s': r.rollbackSeconds.length ? median(r.rollbackSeconds) : null,
    'rollback p90 s': percentile(r.rollbackSeconds, 0.9),
    'rollback median looks': r.rollbackSeconds.length ? median(r.rollbackSeconds) / looks : null,
    'detected (p < stage alpha)': rate(r.accuracySignificantSeconds.length, r.rollouts),
    'detection median s': r.accuracySignificantSeconds.length ? median(r.accuracySignificantSeconds) : null,
  };
}

const bench: Benchmark = {
  name: 'rollout-errors',
  async run(): Promise<BenchTable[]> {
    const equal: Record<string, BenchValue>[] = [];
    const worse: Record<string, BenchValue>[] = [];
    for (const [name, analyze] of analyses) {
      const scenario = { analyze, rules, fleet: DEFAULT_FLEET };
      equal.push(equalRow(name, runScenario({ ...scenario, accuracyDrop: 0 }, ROLLOUTS, SEED)));
      for (const points of [1, 2, 3])
        worse.push(
          regressionRow(
            name,
            points,
            runScenario({ ...scenario, accuracyDrop: points / 100 }, ROLLOUTS, SEED + 100_000 * points),
          ),
        );
    }
    const fleet = `fleet: ${DEFAULT_FLEET.outcomesPerSecond} labelled outcomes/s at accuracy ${DEFAULT_FLEET.controlAccuracy}, ${DEFAULT_FLEET.predictionsPerSecond} predictions/s at error rate ${DEFAULT_FLEET.controlErrorRate}, ${DEFAULT_FLEET.exposuresPerSecond} newly exposed device/s, all split by the stage's share`;
    const cadence = `a look every ${SERVICE_DEFAULTS.evaluateIntervalMs / 1000} s; stages ${SERVICE_DEFAULTS.stages.join('/')}%, >= ${SERVICE_DEFAULTS.minStageSeconds} s each and ${SERVICE_DEFAULTS.minSamples} exposed canary devices; a stage still waiting at 2x that long counts as stalled`;
    const latency = { analyze: analyzeCanary, alpha: LATENCY_LEVEL, share: 0.25, samplesPerSecond: 4 };
    const lat = latencyNullCrossings(latency, LATENCY_RUNS, 7000);
    const latencyRows: Record<string, BenchValue>[] = [
      {
        'canary share': latency.share,
        'samples/s': latency.samplesPerSecond,
        runs: lat.runs,
        'level per quantile': LATENCY_LEVEL,
        'p50 crossing rate': lat.p50,
        'p95 crossing rate': lat.p95,
        '3-sigma margin': binomialUpperMargin(LATENCY_LEVEL, lat.runs),
      },
    ];
    return [
      {
        title: `Equal latency: runs whose p50 / p95 always-valid p ever fell below the level, one ${SERVICE_DEFAULTS.minStageSeconds} s stage (${LATENCY_RUNS} runs)`,
        columns: Object.keys(latencyRows[0]),
        rows: latencyRows,
        notes: [
          `log-normal latency (median 20 ms, sigma 0.4, 0.1 ms resolution) in both cohorts; a look every ${SERVICE_DEFAULTS.evaluateIntervalMs / 1000} s through analyzeCanary with only latency enabled; a quantile counts once judged (30 expected samples beyond it per cohort)`,
          `checked at a level of ${LATENCY_LEVEL} per quantile so that a miscalibrated test would show at this many runs; seeds 7000.. (mulberry32)`,
        ],
      },
      {
        title: `Equal candidate: false rollbacks over a whole rollout (${ROLLOUTS} rollouts)`,
        columns: Object.keys(equal[0]),
        rows: equal,
        notes: [
          fleet,
          cadence,
          `default rules, accuracy and errorRate each at alpha ${rules.accuracy.alpha} (rollback if either fails: level <= ${rollbackLevel}); 3-sigma binomial margin at ${ROLLOUTS} rollouts: ${binomialUpperMargin(rollbackLevel, ROLLOUTS).toFixed(4)}`,
          'always-valid: half-normal mSPRT, tau = threshold, alpha / 3 analysed stages; SRM by the sequential Beta-binomial test. Old: one-sided z at alpha and chi-squared SRM at p < 0.001, re-tested at every look',
          `seeds ${SEED}..${SEED + ROLLOUTS - 1} (mulberry32); outcomes independent given the cohort (no per-device correlation)`,
        ],
      },
      {
        title: `Worse candidates: detection time and false promotion (${ROLLOUTS} rollouts each)`,
        columns: Object.keys(worse[0]),
        rows: worse,
        notes: [
          fleet,
          cadence,
          `accuracy threshold ${rules.accuracy.threshold}: a regression below it that is significant is 'marginal' (waits, never rolls back), so a 1-point drop stalls rather than rolls back`,
          'rollback / detection seconds count from the rollout start (stage 1 at 5%); detection = first look with accuracy always-valid p below the stage alpha (fixed-horizon: z p below alpha)',
        ],
      },
    ];
  },
};

export default bench;
