/**
 * Drift per model version: PSI of each feature's histogram (from
 * 'feature-summary' telemetry) against the production version's, flagged
 * above 0.2. Answers "are the inputs this version sees still the ones
 * production was validated on?". Reads the last seven days unless told a window.
 *
 * Each version carries its sample sizes, and its status is 'insufficient'
 * below the drift rule's default minimum of observations or devices on either
 * side: a PSI from one device's one histogram said "pass" here while the
 * rollout's own analysis said "insufficient" for the same data.
 */
import { PSI_DRIFT_THRESHOLD, type BinnedCounts } from '../../shared/stats/index.ts';
import type { Store } from '../store/index.ts';
import { featurePsi } from './canary-analysis.ts';
import { summarizeCohort } from './cohort-summary.ts';
import { DEFAULT_METRIC_RULES, DEFAULT_MIN_DEVICES } from './metric-rules.ts';
import { DEFAULT_TELEMETRY_WINDOW_MS, readTelemetry } from './rollout-telemetry.ts';

export interface DriftSide {
  /** Feature observations behind the PSI: the smallest histogram total over the features compared. */
  observations: number;
  /** Distinct devices that sent feature summaries. */
  devices: number;
}

export interface VersionDrift {
  version: number;
  psi: Record<string, number>;
  drifted: string[];
  /** The production (reference) side and this version's side. */
  samples: { reference: DriftSide; version: DriftSide };
  /** 'insufficient' when either side has fewer than the report's minimums; else 'drift' when any feature is over the threshold. */
  status: 'pass' | 'drift' | 'insufficient';
}

export interface DriftReport {
  app: string;
  referenceVersion: number | null;
  threshold: number;
  /** Observations and devices each side needs before a PSI is judged (the drift rule's defaults, metric-rules.ts). */
  minSamples: number;
  minDevices: number;
  versions: VersionDrift[];
}

interface FeatureSide {
  features: Record<string, BinnedCounts>;
  devices: number;
}

const total = (h: BinnedCounts) => h.counts.reduce((a, b) => a + b, 0);

async function readSide(store: Store, app: string, version: number, since: string): Promise<FeatureSide> {
  const rows = await readTelemetry(store, app, version, since, 'feature-summary');
  return { features: summarizeCohort(rows).features, devices: new Set(rows.map((r) => r.deviceId)).size };
}

function observations(side: FeatureSide, names: string[]): number {
  const totals = names.flatMap((n) => (Object.hasOwn(side.features, n) ? [total(side.features[n])] : []));
  return totals.length === 0 ? 0 : Math.min(...totals);
}

/**
 * @example
 * const report = await driftReport(store, 'digits', [2, 3]);
 * report.versions[0].status; // 'insufficient' until 100 observations from 5 devices on each side
 */
export async function driftReport(
  store: Store,
  app: string,
  versions?: number[],
  since?: string,
  now: Date = new Date(),
): Promise<DriftReport> {
  // A window, never all time: old telemetry says nothing about today's inputs, and reading it all does not scale.
  since ??= new Date(now.getTime() - DEFAULT_TELEMETRY_WINDOW_MS).toISOString();
  const minSamples = DEFAULT_METRIC_RULES.drift.minSamples ?? 100;
  const minDevices = DEFAULT_METRIC_RULES.drift.minDevices ?? DEFAULT_MIN_DEVICES;
  const production = (await store.listModelVersions(app, { stage: 'production', limit: 1 }))[0];
  const report: DriftReport = {
    app,
    referenceVersion: production?.version ?? null,
    threshold: PSI_DRIFT_THRESHOLD,
    minSamples,
    minDevices,
    versions: [],
  };
  if (!production) return report;
  const reference = await readSide(store, app, production.version, since);
  const targets =
    versions ??
    (await store.listModelVersions(app, { limit: 100 })).filter((v) => v.stage !== 'archived').map((v) => v.version);
  for (const version of targets) {
    if (version === production.version) continue;
    const actual = await readSide(store, app, version, since);
    const psi = featurePsi(reference.features, actual.features);
    const names = Object.keys(psi);
    if (names.length === 0) continue;
    const drifted = names.filter((k) => psi[k] > PSI_DRIFT_THRESHOLD);
    const samples = {
      reference: { observations: observations(reference, names), devices: reference.devices },
      version: { observations: observations(actual, names), devices: actual.devices },
    };
    const enough = [samples.reference, samples.version].every(
      (s) => s.observations >= minSamples && s.devices >= minDevices,
    );
    report.versions.push({
      version,
      psi,
      drifted,
      samples,
      status: !enough ? 'insufficient' : drifted.length > 0 ? 'drift' : 'pass',
    });
  }
  return report;
}
