/**
 * Reads a rollout stage's telemetry from the store and splits it into canary
 * and control summaries.
 *
 * A device's telemetry counts only toward the version it was served: the
 * coordinator knows every device's cohort (a stable hash, cohort.ts), and the
 * manifest it serves a device during a live rollout is its cohort's
 * (manifestForDevice), so canary metrics come only from canary-cohort devices
 * reporting the candidate, control metrics only from control-cohort devices
 * reporting the control version. A device that claims another version (a
 * liar, or a device whose cache is stale) moves no metric.
 *
 * Exposure, the sample-ratio check's input: a device is exposed in the
 * current stage when it was served its cohort's manifest and sent any
 * telemetry for that manifest's version since the stage began (predictions,
 * feedback, a model-loaded event, or the heartbeat the SDK sends while a
 * model stays active). Counting only 'model-loaded' events, as this once did,
 * missed every page that stayed open across a stage boundary: such a page
 * loads nothing new, so an equal candidate was halted for "36 canary / 0
 * control exposed".
 *
 * A misserved device, one that reported only the other cohort's version in
 * the stage (a caching proxy handing control devices the canary build), is
 * counted as exposed to the version it runs: the sample-ratio check exists to
 * catch exactly that, and dropping such devices would only shrink one cohort,
 * which a sequential test at fleet sizes in the hundreds does not flag. Its
 * metrics still count nowhere, and a mismatch can only halt a rollout, never
 * roll it back.
 */
import type { BinnedCounts } from '../../shared/stats/index.ts';
import type { Rollout, Store, TelemetryEvent } from '../store/index.ts';
import { cohortOf } from './cohort.ts';
import { deviceWeightCaps, summarizeCohort, type CohortSummary, type SummaryOptions } from './cohort-summary.ts';

const PAGE = 1000;
/** Rows read per version and evaluation; beyond this the oldest window is what is analysed. */
export const MAX_EVENTS_PER_VERSION = 200_000;
/** How far back drift and previews look when the caller names no window. */
export const DEFAULT_TELEMETRY_WINDOW_MS = 7 * 86_400_000;

/** Every telemetry row of (app, version) since `since`, oldest first. */
export async function readTelemetry(
  store: Store,
  app: string,
  version: number,
  since?: string,
  kind?: string,
): Promise<TelemetryEvent[]> {
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

export type CohortRollout = Pick<Rollout, 'id' | 'candidateVersion' | 'controlVersion' | 'stages' | 'stageIndex'>;

/**
 * Pure: the stage's rows of both versions -> canary and control summaries,
 * each row attributed by the device's cohort, not by its claim; a device is
 * exposed in its cohort when any of its rows is for its cohort's version,
 * else (misserved) to the version its rows are for.
 * @example
 * const { canary, control } = splitCohorts(rollout, [...candidateRows, ...controlRows]);
 */
export function splitCohorts(
  rollout: CohortRollout,
  events: readonly TelemetryEvent[],
  options?: SummaryOptions,
): CohortPair {
  const percent = rollout.stages[rollout.stageIndex];
  const cohorts = new Map<string, string>();
  const canaryRows: TelemetryEvent[] = [];
  const controlRows: TelemetryEvent[] = [];
  const canaryExposed = new Set<string>();
  const controlExposed = new Set<string>();
  // Devices that reported the other cohort's version: exposed to it, unless they also reported their own.
  const misserved = new Set<string>();
  for (const e of events) {
    let cohort = cohorts.get(e.deviceId);
    if (cohort === undefined) cohorts.set(e.deviceId, (cohort = cohortOf(rollout.id, e.deviceId, percent)));
    if (cohort === 'canary' && e.version === rollout.candidateVersion) {
      canaryRows.push(e);
      canaryExposed.add(e.deviceId);
    } else if (cohort === 'control' && e.version === rollout.controlVersion) {
      controlRows.push(e);
      controlExposed.add(e.deviceId);
    } else if (e.version === rollout.candidateVersion || e.version === rollout.controlVersion) {
      misserved.add(e.deviceId);
    }
  }
  for (const deviceId of misserved) {
    if (cohorts.get(deviceId) === 'canary') {
      if (!canaryExposed.has(deviceId)) controlExposed.add(deviceId);
    } else if (!controlExposed.has(deviceId)) {
      canaryExposed.add(deviceId);
    }
  }
  // One weight cap for both cohorts: the median device's, so a liar's totals count like one ordinary device.
  const summaryOptions: SummaryOptions = { weightCaps: deviceWeightCaps([...canaryRows, ...controlRows]), ...options };
  return {
    canary: summarizeCohort(canaryRows, canaryExposed, summaryOptions),
    control: summarizeCohort(controlRows, controlExposed, summaryOptions),
  };
}

/**
 * @example
 * const { canary, control } = await readCohorts(store, rollout);
 */
export async function readCohorts(
  store: Store,
  rollout: CohortRollout & Pick<Rollout, 'app' | 'stageStartedAt'>,
): Promise<CohortPair> {
  const [canaryEvents, controlEvents] = await Promise.all([
    readTelemetry(store, rollout.app, rollout.candidateVersion, rollout.stageStartedAt),
    readTelemetry(store, rollout.app, rollout.controlVersion, rollout.stageStartedAt),
  ]);
  return splitCohorts(rollout, [...canaryEvents, ...controlEvents]);
}

/** Per-feature histograms (null-prototype record) of one version's 'feature-summary' telemetry since `since`. */
export async function readFeatures(
  store: Store,
  app: string,
  version: number,
  since?: string,
): Promise<Record<string, BinnedCounts>> {
  return summarizeCohort(await readTelemetry(store, app, version, since, 'feature-summary')).features;
}
