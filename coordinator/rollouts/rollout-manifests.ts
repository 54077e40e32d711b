/**
 * Signed manifests for rollout cohorts: the same manifest as the registry's,
 * plus `rollout: { id, cohort }`, each in its own generation so generations
 * stay monotonic per app and a device can refuse anything older than what it
 * holds. The manifest a device should get is resolved here too.
 */
import { signManifest } from '../../shared/manifest/index.ts';
import type { SigningKey } from '../auth/bootstrap.ts';
import { manifestFor } from '../registry/publish.ts';
import {
  LIVE_ROLLOUT_STATUSES,
  type ManifestRecord,
  type ModelVersion,
  type Rollout,
  type Store,
  type StoreOps,
} from '../store/index.ts';
import { cohortOf, type Cohort } from './cohort.ts';
import { banditGenerationFor } from './bandit-state.ts';

/** A cohort label in a manifest: a rollout's canary/control or a bandit arm (`arm-0`, `arm-1`, ...). */
export type CohortLabel = Cohort | `arm-${number}`;

/**
 * Publishes a new generation of `version` tagged with the rollout and cohort;
 * `shadow: true` marks a rollout that runs a shadow version, so devices know
 * to ask `GET /v1/apps/:app/shadow` (and others never do).
 */
export function publishCohortManifest(
  store: StoreOps,
  signing: SigningKey,
  version: ModelVersion,
  rolloutId: string,
  cohort: CohortLabel,
  options: { shadow?: boolean } = {},
): Promise<ManifestRecord> {
  return store.publishManifest({
    app: version.app,
    version: version.version,
    sign: async (generation) =>
      await signManifest(
        {
          ...manifestFor(version, generation),
          rollout: { id: rolloutId, cohort, ...(options.shadow ? { shadow: true } : {}) },
        },
        signing.privateKey,
        signing.keyId,
      ),
  });
}

export interface DeviceManifest {
  record: ManifestRecord;
  rolloutId: string | null;
  cohort: CohortLabel | null;
}

/** The live rollout of an app (running, paused or halted), if any. */
export async function liveRollout(store: StoreOps, app: string): Promise<Rollout | null> {
  return (await store.listRollouts({ app, status: [...LIVE_ROLLOUT_STATUSES], limit: 1 }))[0] ?? null;
}

/**
 * The manifest this device should run: its cohort's during a live rollout,
 * else the app's latest. Read from one snapshot: separate reads could see no
 * live rollout, then the latest manifest of a rollout that started between
 * them (the canary's, handed to a control device).
 *
 * @example
 * const m = await manifestForDevice(store, 'digits', 'dev_1'); // m?.cohort === 'canary' for ~5% at stage 1
 */
export function manifestForDevice(
  store: Pick<Store, 'snapshot'>,
  app: string,
  deviceId: string,
): Promise<DeviceManifest | null> {
  return store.snapshot((view) => resolveDeviceManifest(view, app, deviceId));
}

/** `manifestForDevice` on reads the caller keeps consistent (a snapshot or a transaction). */
export async function resolveDeviceManifest(
  store: StoreOps,
  app: string,
  deviceId: string,
): Promise<DeviceManifest | null> {
  const bandit = await banditGenerationFor(store, app, deviceId);
  if (bandit) {
    const record = await store.getManifest(app, bandit.generation);
    if (record) return { record, rolloutId: bandit.banditId, cohort: `arm-${bandit.arm}` };
  }
  const rollout = await liveRollout(store, app);
  if (rollout && rollout.canaryGeneration !== null && rollout.controlGeneration !== null) {
    const cohort = cohortOf(rollout.id, deviceId, rollout.stages[rollout.stageIndex]);
    const record = await store.getManifest(
      app,
      cohort === 'canary' ? rollout.canaryGeneration : rollout.controlGeneration,
    );
    if (record) return { record, rolloutId: rollout.id, cohort };
  }
  const record = await store.latestManifest(app);
  return record ? { record, rolloutId: null, cohort: null } : null;
}
