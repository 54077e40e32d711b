/**
 * One digest of a roster, as a device saw it: SHA-256 over the round id,
 * the vector length, (k, t, c) and every (id, channel key, masking key) in
 * id order, through the unambiguous context encoding. It goes into the HKDF
 * info and the AES-GCM associated data of every share ciphertext
 * (share-channel.ts), so two devices shown different rosters (a split view:
 * a key swapped, a device added or left out, other parameters) cannot open
 * each other's shares, and refuse to mask.
 */
import { encodeContext } from './context.ts';
import type { Roster } from './messages.ts';

/** SHA-256 of the roster's canonical encoding (32 bytes). */
export async function rosterDigest(roster: Roster): Promise<Uint8Array> {
  const devices = [...roster.devices].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  const { neighbours, threshold, colluders } = roster.parameters;
  const parts = [
    String(roster.vectorLength),
    String(neighbours),
    String(threshold),
    String(colluders),
    ...devices.flatMap((d) => [d.deviceId, d.channelPublicKey, d.maskingPublicKey]),
  ];
  return new Uint8Array(
    await globalThis.crypto.subtle.digest('SHA-256', encodeContext('roster', roster.roundId, parts)),
  );
}
