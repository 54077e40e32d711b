/**
 * Drift per model version: PSI of each feature's histogram (from
 * 'feature-summary' telemetry) against the production version's, flagged
 * above 0.2. Answers "are the inputs this version sees still the ones
 * production was validated on?". Reads the last seven days unless told a window.
 */
import { PSI_DRIFT_THRESHOLD } from '../../shared/stats/index.ts';
import type { Store } from '../store/index.ts';
import { featurePsi } from './canary-analysis.ts';
import { DEFAULT_TELEMETRY_WINDOW_MS, readFeatures } from './rollout-telemetry.ts';

export interface VersionDrift {
  version: number;
  psi: Record<string, number>;
  drifted: string[];
}

export interface DriftReport {
  app: string;
  referenceVersion: number | null;
  threshold: number;
  versions: VersionDrift[];
}

/**
 * @example
 * const report = await driftReport(store, 'digits', [2, 3]);
 */
export async function driftReport(store: Store, app: string, versions?: number[], since?: string, now: Date = new Date()): Promise<DriftReport> {
  // A window, never all time: old telemetry says nothing about today's inputs, and reading it all does not scale.
  since ??= new Date(now.getTime() - DEFAULT_TELEMETRY_WINDOW_MS).toISOString();
  const production = (await store.listModelVersions(app, { stage: 'production', limit: 1 }))[0];
  const report: DriftReport = { app, referenceVersion: production?.version ?? null, threshold: PSI_DRIFT_THRESHOLD, versions: [] };
  if (!production) return report;
  const reference = await readFeatures(store, app, production.version, since);
  const targets = versions ?? (await store.listModelVersions(app, { limit: 100 })).filter((v) => v.stage !== 'archived').map((v) => v.version);
  for (const version of targets) {
    if (version === production.version) continue;
    const psi = featurePsi(reference, await readFeatures(store, app, version, since));
    if (Object.keys(psi).length === 0) continue;
    report.versions.push({ version, psi, drifted: Object.keys(psi).filter((k) => psi[k] > PSI_DRIFT_THRESHOLD) });
  }
  return report;
}
