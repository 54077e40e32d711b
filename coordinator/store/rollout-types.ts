/**
 * Stored rollout state: which candidate goes to which share of an app's
 * devices, at which stage, and the signed manifest generations each cohort is
 * served. The decision logic lives in coordinator/rollouts; this is only what
 * must survive a restart.
 */
import type { RolloutVerdict } from '../../shared/protocol/index.ts';
import type { IsoTime, JsonObject } from './types.ts';

export type RolloutStatus = 'running' | 'paused' | 'halted' | 'completed' | 'rolled_back' | 'aborted';
export const ROLLOUT_STATUSES: readonly RolloutStatus[] = [
  'running',
  'paused',
  'halted',
  'completed',
  'rolled_back',
  'aborted',
];
/** Statuses in which cohorts are still served their rollout manifests. */
export const LIVE_ROLLOUT_STATUSES: readonly RolloutStatus[] = ['running', 'paused', 'halted'];

export interface Rollout {
  id: string;
  app: string;
  candidateVersion: number;
  /** Production version when the rollout started: what control runs and a rollback returns to. */
  controlVersion: number;
  status: RolloutStatus;
  /** Canary percentages per stage, e.g. [5, 25, 50, 100]. */
  stages: number[];
  stageIndex: number;
  stageStartedAt: IsoTime;
  minStageSeconds: number;
  minSamples: number;
  /** Per-metric analysis settings (coordinator/rollouts decides their shape). */
  metrics: JsonObject;
  /** The version run as a shadow beside production and its sample rate (coordinator/rollouts/shadow.ts), or null. */
  shadow: JsonObject | null;
  /** Manifest generation served to canary devices in the current stage. */
  canaryGeneration: number | null;
  /** Manifest generation served to control devices. */
  controlGeneration: number | null;
  /** The latest canary analysis with its evidence, in the shape the admin views serve (shared/protocol/rollouts.ts). */
  lastVerdict: RolloutVerdict | null;
  reason: string | null;
  createdAt: IsoTime;
  updatedAt: IsoTime;
  endedAt: IsoTime | null;
}

export interface NewRollout {
  id: string;
  app: string;
  candidateVersion: number;
  controlVersion: number;
  stages: number[];
  minStageSeconds: number;
  minSamples: number;
  metrics: JsonObject;
  shadow?: JsonObject | null;
}

export type RolloutPatch = Partial<
  Pick<
    Rollout,
    | 'status'
    | 'stageIndex'
    | 'stageStartedAt'
    | 'canaryGeneration'
    | 'controlGeneration'
    | 'lastVerdict'
    | 'reason'
    | 'endedAt'
  >
>;

export interface RolloutQuery {
  app?: string;
  status?: RolloutStatus[];
  limit?: number;
}
