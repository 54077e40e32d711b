/**
 * The encrypted channel that carries one device's two Shamir shares to one
 * neighbour through the coordinator. Key: HKDF-SHA-256 over X25519 of the two
 * channel keys, info naming the round and (from, to); AES-256-GCM with the
 * same (round, from, to) as associated data, so a ciphertext replayed into
 * another round or re-addressed to another pair does not authenticate.
 */
import { base64ToBytes, bytesToBase64 } from '../manifest/bytes.ts';
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

async function channelKey(
  sharedSecret: Uint8Array<ArrayBuffer>,
  roundId: string,
  from: string,
  to: string,
): Promise<CryptoKey> {
  const subtle = globalThis.crypto.subtle;
  const base = await subtle.importKey('raw', sharedSecret, 'HKDF', false, ['deriveKey']);
  return subtle.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: new Uint8Array(0),
      info: encodeContext('share-channel-key', roundId, [from, to]),
    },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** Encrypts `pair` from `from` to `to`; returns base64 of iv || ciphertext || tag. */
export async function encryptSharePair(
  sharedSecret: Uint8Array<ArrayBuffer>,
  roundId: string,
  from: string,
  to: string,
  pair: SharePair,
): Promise<string> {
  if (pair.selfMaskSeedShare.length !== SHARE_BYTES || pair.maskingKeyShare.length !== SHARE_BYTES) {
    throw new SecAggError('bad-parameters', `shares must be ${SHARE_BYTES} bytes`);
  }
  const plaintext = new Uint8Array(2 * SHARE_BYTES);
  plaintext.set(pair.selfMaskSeedShare);
  plaintext.set(pair.maskingKeyShare, SHARE_BYTES);
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const key = await channelKey(sharedSecret, roundId, from, to);
  const sealed = await globalThis.crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: encodeContext('share-ciphertext', roundId, [from, to]) },
    key,
    plaintext,
  );
  const out = new Uint8Array(IV_BYTES + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), IV_BYTES);
  return bytesToBase64(out);
}

/** Decrypts what `from` sent `to`; throws `decrypt-failed` unless it authenticates for this round and pair. */
export async function decryptSharePair(
  sharedSecret: Uint8Array<ArrayBuffer>,
  roundId: string,
  from: string,
  to: string,
  ciphertext: string,
): Promise<SharePair> {
  const bytes = base64ToBytes(ciphertext);
  const refuse = (why: string) =>
    new SecAggError('decrypt-failed', `the shares ${from} sent to ${to} in round ${roundId} ${why}`, {
      from,
      to,
      roundId,
    });
  if (!bytes || bytes.length <= IV_BYTES) throw refuse('are not a ciphertext');
  const key = await channelKey(sharedSecret, roundId, from, to);
  let plaintext: Uint8Array;
  try {
    plaintext = new Uint8Array(
      await globalThis.crypto.subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: bytes.subarray(0, IV_BYTES),
          additionalData: encodeContext('share-ciphertext', roundId, [from, to]),
        },
        key,
        bytes.subarray(IV_BYTES),
      ),
    );
  } catch {
    throw refuse('do not authenticate (wrong round, wrong pair or tampered)');
  }
  if (plaintext.length !== 2 * SHARE_BYTES) throw refuse('have the wrong length');
  return { selfMaskSeedShare: plaintext.slice(0, SHARE_BYTES), maskingKeyShare: plaintext.slice(SHARE_BYTES) };
}
