/**
 * Server-side unmasking, given the shares survivors revealed: rebuild each
 * survivor's self-mask seed and subtract its self mask; rebuild each dropped
 * device's masking key (checked against the key it advertised) and subtract
 * the pairwise mask each of its surviving peers added. Pairwise masks between
 * two survivors cancel in the sum and are never touched.
 */
import { combine } from 'shamir-secret-sharing';
import { base64ToBytes } from '../manifest/bytes.ts';
import { pairContext, selfMaskContext } from './context.ts';
import { maskStream } from './mask-stream.ts';
import type { Roster } from './messages.ts';
import { addMod32InPlace, subtractMod32InPlace } from './mod32.ts';
import { SecAggError } from './secagg-error.ts';
import { agree, importCheckedPrivateScalar, importPublicKey } from './x25519.ts';

/** The shares one survivor revealed, by the device they belong to (base64). */
export interface CollectedShares {
  selfMaskSeed: Map<string, string>;
  maskingKey: Map<string, string>;
}

export interface UnmaskInputs {
  roundId: string;
  roster: Roster;
  /** Device -> the peers it masked with (whose shares it was forwarded). */
  pairs: ReadonlyMap<string, ReadonlySet<string>>;
  survivors: readonly string[];
  dropped: readonly string[];
  responses: ReadonlyMap<string, CollectedShares>;
}

/** Combines the first t shares of `of` found in the responses. */
async function recoverSecret(of: string, kind: keyof CollectedShares, inputs: UnmaskInputs): Promise<Uint8Array> {
  const { threshold } = inputs.roster.parameters;
  const shares: Uint8Array[] = [];
  for (const collected of inputs.responses.values()) {
    const share = collected[kind].get(of);
    if (share === undefined) continue;
    const bytes = base64ToBytes(share);
    if (!bytes) throw new SecAggError('bad-message', `a share of ${of} is not base64`, { deviceId: of });
    shares.push(bytes);
    if (shares.length === threshold) break;
  }
  if (shares.length < threshold) {
    throw new SecAggError(
      'too-few-neighbours',
      `only ${shares.length} shares of ${of} came back; ${threshold} are needed`,
      { deviceId: of, live: shares.length, threshold },
    );
  }
  try {
    return await combine(shares);
  } catch {
    throw new SecAggError('bad-message', `the shares of ${of} do not combine (malformed or duplicated)`, {
      deviceId: of,
    });
  }
}

/** Removes every mask from `sum` in place. */
export async function unmaskSum(sum: Uint32Array, inputs: UnmaskInputs): Promise<void> {
  const { roundId, roster } = inputs;
  const keys = new Map(roster.devices.map((d) => [d.deviceId, d]));
  for (const u of inputs.survivors) {
    const seed = await recoverSecret(u, 'selfMaskSeed', inputs);
    subtractMod32InPlace(sum, await maskStream(seed, selfMaskContext(roundId, u), sum.length));
  }
  const survivors = new Set(inputs.survivors);
  for (const v of inputs.dropped) {
    const advertised = keys.get(v);
    if (!advertised) throw new SecAggError('bad-message', `dropped device ${v} is not in the roster`, { deviceId: v });
    const scalar = await recoverSecret(v, 'maskingKey', inputs);
    const privateKey = await importCheckedPrivateScalar(scalar, advertised.maskingPublicKey, v);
    for (const u of survivors) {
      if (!(inputs.pairs.get(u)?.has(v) ?? false)) continue;
      const peer = keys.get(u) as Roster['devices'][number];
      const secret = await agree(privateKey, await importPublicKey(peer.maskingPublicKey, u), u);
      const stream = await maskStream(secret, pairContext(roundId, u, v), sum.length);
      // u added +stream when u < v and -stream otherwise; undo exactly that.
      if (u < v) subtractMod32InPlace(sum, stream);
      else addMod32InPlace(sum, stream);
    }
  }
}
