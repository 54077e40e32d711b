/**
 * Domain separation: every HKDF `info` and every AEAD associated-data string
 * of secure aggregation is one unambiguous encoding of (purpose, round id,
 * device ids), so a key, mask or ciphertext made for one round or one pair of
 * devices is useless for any other.
 */

/** Versioned label in front of every context; change it and every derived key changes. */
export const CONTEXT_LABEL = 'flock-secagg/v1';

/** What a derived key or stream is for; each purpose has its own key space. */
export type ContextPurpose =
  | 'self-mask'
  | 'pairwise-mask'
  | 'share-channel-key'
  | 'share-ciphertext'
  | 'neighbour-graph-seed'
  | 'neighbour-graph-permutation'
  /** The digest of a roster that binds share ciphertexts to the sender's view of it. */
  | 'roster'
  /** The random signs of the distributed discrete Gaussian's Hadamard rotation (public, per round). */
  | 'ddg-rotation';

const utf8 = new TextEncoder();

/**
 * Label, purpose, round id and each id, each as a big-endian uint32 byte
 * length followed by its UTF-8 bytes (so no two different lists encode alike).
 */
export function encodeContext(
  purpose: ContextPurpose,
  roundId: string,
  parts: readonly string[],
): Uint8Array<ArrayBuffer> {
  const fields = [CONTEXT_LABEL, purpose, roundId, ...parts].map((s) => utf8.encode(s));
  const out = new Uint8Array(fields.reduce((n, f) => n + 4 + f.length, 0));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const field of fields) {
    view.setUint32(offset, field.length);
    out.set(field, offset + 4);
    offset += 4 + field.length;
  }
  return out;
}

/** Context of the pairwise mask of two devices: ids in code-unit order, so both ends agree. */
export function pairContext(roundId: string, a: string, b: string): Uint8Array<ArrayBuffer> {
  return encodeContext('pairwise-mask', roundId, a < b ? [a, b] : [b, a]);
}

/** Context of a device's self mask. */
export function selfMaskContext(roundId: string, deviceId: string): Uint8Array<ArrayBuffer> {
  return encodeContext('self-mask', roundId, [deviceId]);
}
