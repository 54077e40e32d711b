/**
 * The encrypted channel that carries one device's two Shamir shares to one
 * neighbour through the coordinator. Key: HKDF-SHA-256 over X25519 of the two
 * channel keys, info naming the round, (from, to) and the digest of the
 * roster the sender saw; AES-256-GCM with the same (round, from, to, roster
 * digest) as associated data. A ciphertext replayed into another round,
 * re-addressed to another pair, or sent by a device that was shown another
 * roster (a split view of the key list) does not authenticate.
 */
import { base64ToBytes, bytesToBase64, bytesToHex } from '../manifest/bytes.ts';
import { encodeContext } from './context.ts';
import { SecAggError } from './secagg-error.ts';

/** What one device hands one neighbour: a share of each of its two secrets. */
export interface SharePair {
  selfMaskSeedShare: Uint8Array;
  maskingKeyShare: Uint8Array;
}

/** A Shamir share of a 32-byte secret: 32 bytes plus its one-byte x coordinate. */
export const SHARE_BYTES = 33;
const IV_BYTES = 12;

/** Who a ciphertext goes between, in which round, under which view of the roster. */
export interface ShareChannelAddress {
  roundId: string;
  from: string;
  to: string;
  /** SHA-256 of the roster as the sender saw it (rosterDigest in roster-digest.ts); the recipient uses its own. */
  rosterDigest: Uint8Array;
}

function addressParts(a: ShareChannelAddress): string[] {
  return [a.from, a.to, bytesToHex(a.rosterDigest)];
}

async function channelKey(sharedSecret: Uint8Array<ArrayBuffer>, address: ShareChannelAddress): Promise<CryptoKey> {
  const subtle = globalThis.crypto.subtle;
  const base = await subtle.importKey('raw', sharedSecret, 'HKDF', false, ['deriveKey']);
  return subtle.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: new Uint8Array(0),
      info: encodeContext('share-channel-key', address.roundId, addressParts(address)),
    },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** Encrypts `pair` from `address.from` to `address.to`; returns base64 of iv || ciphertext || tag. */
export async function encryptSharePair(
  sharedSecret: Uint8Array<ArrayBuffer>,
  address: ShareChannelAddress,
  pair: SharePair,
): Promise<string> {
  if (pair.selfMaskSeedShare.length !== SHARE_BYTES || pair.maskingKeyShare.length !== SHARE_BYTES) {
    throw new SecAggError('bad-parameters', `shares must be ${SHARE_BYTES} bytes`);
  }
  const plaintext = new Uint8Array(2 * SHARE_BYTES);
  plaintext.set(pair.selfMaskSeedShare);
  plaintext.set(pair.maskingKeyShare, SHARE_BYTES);
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const key = await channelKey(sharedSecret, address);
  const sealed = await globalThis.crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: encodeContext('share-ciphertext', address.roundId, addressParts(address)) },
    key,
    plaintext,
  );
  const out = new Uint8Array(IV_BYTES + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), IV_BYTES);
  return bytesToBase64(out);
}

/**
 * Decrypts what `address.from` sent `address.to`; throws `decrypt-failed`
 * unless it authenticates for this round, this pair and this roster digest.
 */
export async function decryptSharePair(
  sharedSecret: Uint8Array<ArrayBuffer>,
  address: ShareChannelAddress,
  ciphertext: string,
): Promise<SharePair> {
  const { roundId, from, to } = address;
  const bytes = base64ToBytes(ciphertext);
  const refuse = (why: string) =>
    new SecAggError('decrypt-failed', `the shares ${from} sent to ${to} in round ${roundId} ${why}`, {
      from,
      to,
      roundId,
    });
  if (!bytes || bytes.length <= IV_BYTES) throw refuse('are not a ciphertext');
  const key = await channelKey(sharedSecret, address);
  let plaintext: Uint8Array;
  try {
    plaintext = new Uint8Array(
      await globalThis.crypto.subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: bytes.subarray(0, IV_BYTES),
          additionalData: encodeContext('share-ciphertext', roundId, addressParts(address)),
        },
        key,
        bytes.subarray(IV_BYTES),
      ),
    );
  } catch {
    throw refuse(
      'do not authenticate (wrong round, wrong pair, tampered, or the coordinator showed the two devices different rosters)',
    );
  }
  if (plaintext.length !== 2 * SHARE_BYTES) throw refuse('have the wrong length');
  return { selfMaskSeedShare: plaintext.slice(0, SHARE_BYTES), maskingKeyShare: plaintext.slice(SHARE_BYTES) };
}
