/**
 * The signed manifest of a rollout's shadow version. It is issued once per
 * (rollout, shadow version) and then served as stored, not signed afresh on
 * every request, and it states its role (`purpose: 'shadow'`) under the
 * signature, so a device never installs it as the app's model (and never
 * runs a model manifest as a shadow). Its generation comes from the app's
 * own shadow sequence, apart from the model manifests' generations: a shadow
 * manifest neither reuses a model generation nor advances the sequence
 * devices use to refuse replayed model manifests.
 *
 * Both live in settings, so several coordinator processes agree: the first
 * to store a rollout's shadow manifest wins (`setSettingIfAbsent`), the others
 * serve that one.
 */
import { SignedManifestSchema, signManifest, type SignedManifest } from '../../shared/manifest/index.ts';
import type { SigningKey } from '../auth/bootstrap.ts';
import { manifestFor } from '../registry/publish.ts';
import type { ModelVersion, Rollout, StoreOps } from '../store/index.ts';

/** Settings key of the newest shadow generation issued for an app. */
export const shadowGenerationKey = (app: string) => `shadow-generation:${app}`;
/** Settings key of the shadow manifest issued for a rollout's shadow version. */
export const shadowManifestKey = (app: string, rolloutId: string, version: number) =>
  `shadow-manifest:${app}:${rolloutId}:${version}`;

/**
 * The shadow manifest of `version` for `rollout`, issued on first use.
 * @example
 * const signed = await shadowManifestFor(store, signing, rollout, v3);
 * signed.manifest.purpose // 'shadow'; signed.manifest.rollout // { id: rollout.id, cohort: 'shadow' }
 */
export async function shadowManifestFor(
  store: StoreOps,
  signing: SigningKey,
  rollout: Pick<Rollout, 'id' | 'app'>,
  version: ModelVersion,
): Promise<SignedManifest> {
  const key = shadowManifestKey(rollout.app, rollout.id, version.version);
  const issued = await store.getSetting(key);
  // Parsed, not cast: a settings row is JSON written by an earlier process.
  if (issued) return SignedManifestSchema.parse(issued);
  const last = Number((await store.getSetting(shadowGenerationKey(rollout.app))) ?? 0);
  const signed = await signManifest(
    { ...manifestFor(version, last + 1), purpose: 'shadow', rollout: { id: rollout.id, cohort: 'shadow' } },
    signing.privateKey,
    signing.keyId,
  );
  const kept = SignedManifestSchema.parse(await store.setSettingIfAbsent(key, signed));
  await store.setSetting(shadowGenerationKey(rollout.app), Math.max(last + 1, kept.manifest.generation));
  return kept;
}
