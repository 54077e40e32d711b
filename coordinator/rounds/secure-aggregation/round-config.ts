/**
 * The signed configuration of a secure-aggregation round: everything a device
 * signs up to before it sends a byte (round, weights, dimension, DDG options,
 * the public rotation seed, graph sizing, phase deadlines), signed with the
 * coordinator's manifest key over canonicalJsonBytes(config), so a device
 * verifies it with the key it already trusts (client/training/secure-aggregation/round-config-check.ts).
 *
 * Deadlines split the round's window: the devices train first, so keys are
 * advertised by 60% of it, shares by 70%, masked inputs by 85% and unmask
 * responses by its end.
 */
import { bytesToBase64, canonicalJsonBytes } from '../../../shared/manifest/index.ts';
import {
  type SecAggRoundConfig,
  SecAggRoundConfigSchema,
  type SignedSecAggRoundConfig,
} from '../../../shared/protocol/index.ts';
import type { SigningKey } from '../../auth/bootstrap.ts';
import type { Round, Task } from '../../store/index.ts';
import type { RoundDdg } from './round-ddg.ts';

/** Each phase's deadline as a fraction of the window from the round's opening to its deadline. */
export const PHASE_DEADLINE_FRACTIONS = { advertiseBy: 0.6, shareBy: 0.7, maskBy: 0.85, unmaskBy: 1 } as const;

export interface RoundConfigInput {
  round: Round;
  task: Task;
  globalWeightsHash: string;
  ddg: RoundDdg;
  /** 32 bytes from crypto.getRandomValues, public: every device rotates with it. */
  rotationSeed: Uint8Array;
  issuedAt: number;
}

/** @example const config = roundConfig({ round, task, globalWeightsHash, ddg, rotationSeed, issuedAt: now() }); */
export function roundConfig(o: RoundConfigInput): SecAggRoundConfig {
  const s = o.task.plan.secureAggregation;
  if (!s) throw new Error(`task ${o.task.id} has no secureAggregation plan`);
  const opened = Date.parse(o.round.startedAt);
  const window = Date.parse(o.round.deadlineAt) - opened;
  const at = (fraction: number) => new Date(opened + Math.floor(window * fraction)).toISOString();
  return SecAggRoundConfigSchema.parse({
    type: 'secagg.round-config',
    version: 1,
    roundId: o.round.id,
    taskId: o.task.id,
    roundNumber: o.round.number,
    globalWeightsHash: o.globalWeightsHash,
    dimension: o.ddg.plan.dimension,
    vectorLength: o.ddg.plan.paddedDimension,
    ddg: o.ddg.options,
    rotationSeed: bytesToBase64(o.rotationSeed),
    graph: {
      dropoutFraction: s.dropoutFraction,
      colluders: s.colluders,
      ...(s.neighbours !== undefined ? { neighbours: s.neighbours } : {}),
      ...(s.threshold !== undefined ? { threshold: s.threshold } : {}),
    },
    deadlines: {
      advertiseBy: at(PHASE_DEADLINE_FRACTIONS.advertiseBy),
      shareBy: at(PHASE_DEADLINE_FRACTIONS.shareBy),
      maskBy: at(PHASE_DEADLINE_FRACTIONS.maskBy),
      unmaskBy: at(PHASE_DEADLINE_FRACTIONS.unmaskBy),
    },
    issuedAt: new Date(o.issuedAt).toISOString(),
  });
}

/** Ed25519 over canonicalJsonBytes(config), by the manifest key. */
export async function signRoundConfig(
  config: SecAggRoundConfig,
  signing: SigningKey,
): Promise<SignedSecAggRoundConfig> {
  const signature = await globalThis.crypto.subtle.sign('Ed25519', signing.privateKey, canonicalJsonBytes(config));
  return { config, keyId: signing.keyId, signature: bytesToBase64(new Uint8Array(signature)) };
}
