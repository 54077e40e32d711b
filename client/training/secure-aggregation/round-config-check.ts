/**
 * What a device checks before it joins a secure-aggregation round, and why:
 * the coordinator that runs the round is the party secure aggregation guards
 * against, so nothing in its check-in answer is taken on its word.
 *
 * - The configuration is signed (Ed25519, over canonicalJsonBytes(config)) by
 *   the key this device already trusts for manifests, under that key's id.
 * - It names the round, task and round number this device was selected for,
 *   and the global weights it downloaded and verified (not an old round's
 *   configuration replayed, nor one for weights it never got).
 * - Every deadline is still ahead and they come in phase order.
 * - After training: `dimension` is the length of the device's own flattened
 *   trainable update and `vectorLength` is planDdg's padded dimension for the
 *   configuration's DDG options, recomputed here.
 *
 * Each refusal is a SecAggError('bad-round-config') whose `details.reason`
 * names the failed check; the caller then sends nothing for the round.
 */
import { canonicalJsonBytes } from '../../../shared/manifest/canonical-json.ts';
import { base64ToBytes } from '../../../shared/manifest/bytes.ts';
import { importPublicKey, keyIdOf } from '../../../shared/manifest/signing.ts';
import {
  type CheckInSelected,
  type SecAggRoundConfig,
  SignedSecAggRoundConfigSchema,
} from '../../../shared/protocol/index.ts';
import { type DdgPlan, planDdg } from '../../../shared/secagg/ddg.ts';
import { SecAggError } from '../../../shared/secagg/secagg-error.ts';

export type RoundConfigRefusal =
  | 'schema'
  | 'untrusted-key'
  | 'signature'
  | 'round'
  | 'weights'
  | 'deadline'
  | 'dimension'
  | 'vector-length'
  | 'ddg';

function refuse(reason: RoundConfigRefusal, message: string, details: Record<string, unknown> = {}): SecAggError {
  return new SecAggError('bad-round-config', `refusing the secure-aggregation round: ${message}`, {
    reason,
    ...details,
  });
}

export interface RoundConfigContext {
  /** The check-in answer that selected this device (its round, task and global weights). */
  selected: CheckInSelected;
  /** The base64 Ed25519 key the device trusts for manifests (pinned or first seen); null refuses. */
  trustedPublicKey: string | null;
  /** Now, epoch ms (default Date.now()). */
  now?: number;
}

/**
 * Checks the signed configuration of `selected` before training.
 * @throws SecAggError('bad-round-config') with details.reason
 *
 * @example
 * const config = await checkSignedRoundConfig({ selected: answer, trustedPublicKey: pointer.trustedPublicKey });
 */
export async function checkSignedRoundConfig(context: RoundConfigContext): Promise<SecAggRoundConfig> {
  const { selected } = context;
  const parsed = SignedSecAggRoundConfigSchema.safeParse(selected.secureAggregation);
  if (!parsed.success)
    throw refuse('schema', `the check-in answer carries no valid signed round configuration (${parsed.error.message})`);
  const { config, keyId, signature } = parsed.data;
  if (context.trustedPublicKey === null)
    throw refuse('untrusted-key', 'this device trusts no manifest key yet; connect() once to sync the model first');
  const trustedKeyId = await keyIdOf(context.trustedPublicKey);
  const signatureBytes = base64ToBytes(signature);
  const valid =
    keyId === trustedKeyId &&
    signatureBytes !== null &&
    (await globalThis.crypto.subtle.verify(
      'Ed25519',
      await importPublicKey(context.trustedPublicKey),
      signatureBytes,
      canonicalJsonBytes(config),
    ));
  if (!valid)
    throw refuse(
      'signature',
      `the round configuration is not signed by the manifest key this device trusts (key ${trustedKeyId}, config names ${keyId})`,
      { keyId, trustedKeyId },
    );
  const mismatched = (['roundId', 'taskId', 'roundNumber'] as const).filter((k) => config[k] !== selected[k]);
  if (mismatched.length > 0)
    throw refuse(
      'round',
      `the configuration is for round ${config.roundId} (task ${config.taskId}, number ${config.roundNumber}), but this device was selected for ${selected.roundId} (task ${selected.taskId}, number ${selected.roundNumber})`,
      { fields: mismatched },
    );
  if (config.globalWeightsHash !== selected.globalWeights.hash)
    throw refuse(
      'weights',
      `the configuration names global weights ${config.globalWeightsHash}, but the round served ${selected.globalWeights.hash}`,
    );
  const now = context.now ?? Date.now();
  const { advertiseBy, shareBy, maskBy, unmaskBy } = config.deadlines;
  const times = [advertiseBy, shareBy, maskBy, unmaskBy].map((t) => Date.parse(t));
  if (times[0] <= now || times.some((t, i) => i > 0 && t < times[i - 1]))
    throw refuse('deadline', `the phase deadlines (${advertiseBy} .. ${unmaskBy}) are past or out of order`);
  return config;
}

/**
 * Checks the configuration against the device's trained update, and derives
 * the DDG plan the device encodes with (never the coordinator's word for it).
 * @throws SecAggError('bad-round-config') with reason 'dimension', 'vector-length' or 'ddg'
 *
 * @example
 * const plan = planOfConfig(config, delta.length);
 */
export function planOfConfig(config: SecAggRoundConfig, updateLength: number): DdgPlan {
  if (config.dimension !== updateLength)
    throw refuse(
      'dimension',
      `the configuration says ${config.dimension} parameters; this device's trainable update has ${updateLength}`,
    );
  let plan: DdgPlan;
  try {
    plan = planDdg({ dimension: config.dimension, ...config.ddg });
  } catch (error) {
    throw refuse('ddg', `its DDG options are refused: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (plan.paddedDimension !== config.vectorLength)
    throw refuse(
      'vector-length',
      `the configuration says ${config.vectorLength} words per masked input; planDdg gives ${plan.paddedDimension} for ${config.dimension} parameters`,
    );
  return plan;
}
