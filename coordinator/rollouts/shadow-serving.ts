/**
 * The shadow side of a live rollout: what a device asking
 * `GET /v1/apps/:app/shadow` is told to run (with the manifest signed for
 * that role, shadow-manifest.ts), and the agreement/latency report an
 * operator reads from the devices' 'shadow' telemetry.
 */
import type { SignedManifest } from '../../shared/manifest/index.ts';
import type { SigningKey } from '../auth/bootstrap.ts';
import type { Rollout, Store } from '../store/index.ts';
import { liveRollout } from './rollout-manifests.ts';
import { readTelemetry } from './rollout-telemetry.ts';
import { versionOf } from './rollout-transition.ts';
import { shadowManifestFor } from './shadow-manifest.ts';
import { shadowOf, shadowReport, type ShadowConfig, type ShadowReport } from './shadow.ts';

/** What a device needs to run the shadow: answered by `GET /v1/apps/:app/shadow`. */
export interface DeviceShadow extends ShadowConfig {
  rolloutId: string;
  manifest: SignedManifest;
}

/**
 * The shadow a device should run during the app's live rollout, with a
 * signed manifest of the shadow version (cohort 'shadow'), or null.
 * @example
 * const s = await shadowForDevice(store, signing, 'digits'); // { version: 3, sampleRate: 0.1, manifest, rolloutId }
 */
export async function shadowForDevice(store: Store, signing: SigningKey, app: string): Promise<DeviceShadow | null> {
  const rollout = await liveRollout(store, app);
  const config = rollout ? shadowOf(rollout) : null;
  if (!rollout || !config) return null;
  const version = await versionOf(store, app, config.version);
  const manifest = await shadowManifestFor(store, signing, rollout, version);
  return { ...config, rolloutId: rollout.id, manifest };
}

/** Agreement and latency of the rollout's shadow against production, from 'shadow' telemetry since the rollout began. */
export async function rolloutShadowReport(store: Store, rollout: Rollout): Promise<ShadowReport | null> {
  const config = shadowOf(rollout);
  if (!config) return null;
  const versions = [...new Set([rollout.controlVersion, rollout.candidateVersion])];
  const rows = (
    await Promise.all(versions.map((v) => readTelemetry(store, rollout.app, v, rollout.createdAt, 'shadow')))
  ).flat();
  return shadowReport(rows, config);
}
