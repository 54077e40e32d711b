/**
 * Reads a rollout stage's telemetry from the store and splits it into canary
 * and control summaries. Cohort membership follows exposure: a device counts
 * for the version its latest 'model-loaded' event in the window names, so a
 * device assigned to the canary that never loaded it is not counted as canary.
 */
import type { BinnedCounts } from '../../shared/stats/index.ts';
import type { Store, TelemetryEvent } from '../store/index.ts';
import { summarizeCohort, type CohortSummary } from './cohort-summary.ts';

const PAGE = 1000;
/** Rows read per version and evaluation; beyond this the oldest window is what is analysed. */
export const MAX_EVENTS_PER_VERSION = 200_000;

/** Every telemetry row of (app, version) since `since`, oldest first. */
export async function readTelemetry(store: Store, app: string, version: number, since?: string, kind?: string): Promise<TelemetryEvent[]> {
  const out: TelemetryEvent[] = [];
  let afterId: number | undefined;
  for (;;) {
    const page = await store.listTelemetry({ app, version, since, kind, afterId, limit: PAGE });
    out.push(...page);
    if (page.length < PAGE || out.length >= MAX_EVENTS_PER_VERSION) return out;
    afterId = page[page.length - 1].id;
  }
}

export interface CohortPair {
  canary: CohortSummary;
  control: CohortSummary;
}

/**
 * @example
 * const { canary, control } = await readCohorts(store, 'digits', 2, 1, rollout.stageStartedAt);
 */
export async function readCohorts(store: Store, app: string, candidateVersion: number, controlVersion: number, since: string): Promise<CohortPair> {
  const [canaryEvents, controlEvents] = await Promise.all([
    readTelemetry(store, app, candidateVersion, since),
    readTelemetry(store, app, controlVersion, since),
  ]);
  const latestLoad = new Map<string, { id: number; version: number }>();
  for (const e of [...canaryEvents, ...controlEvents]) {
    if (e.kind !== 'model-loaded') continue;
    const seen = latestLoad.get(e.deviceId);
    if (!seen || e.id > seen.id) latestLoad.set(e.deviceId, { id: e.id, version: e.version ?? -1 });
  }
  const exposed = (version: number) => new Set([...latestLoad].filter(([, v]) => v.version === version).map(([d]) => d));
  return {
    canary: summarizeCohort(canaryEvents, exposed(candidateVersion)),
    control: summarizeCohort(controlEvents, exposed(controlVersion)),
  };
}

/** Per-feature histograms of one version's 'feature-summary' telemetry since `since`. */
export async function readFeatures(store: Store, app: string, version: number, since?: string): Promise<Record<string, BinnedCounts>> {
  return summarizeCohort(await readTelemetry(store, app, version, since, 'feature-summary')).features;
}
