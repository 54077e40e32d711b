/**
 * X25519 through WebCrypto only: key pairs, raw public keys, the 32-byte
 * private scalar that gets Shamir-shared, and key agreement. A reconstructed
 * scalar is accepted only when its public key equals the advertised one.
 */
import { base64ToBytes, bytesToBase64 } from '../manifest/bytes.ts';
import { SecAggError } from './secagg-error.ts';

const subtle = () => globalThis.crypto.subtle;

/** JWK fields are unpadded base64url. */
function base64UrlToBytes(text: string): Uint8Array | null {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  return base64ToBytes(base64.padEnd(Math.ceil(base64.length / 4) * 4, '='));
}

/** DER prefix of a PKCS#8 X25519 private key (RFC 8410); the 32-byte scalar follows it. */
const PKCS8_X25519_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);

/** A fresh, extractable X25519 key pair (its private scalar is shared later). */
export async function generateX25519(): Promise<CryptoKeyPair> {
  return (await subtle().generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
}

/** Base64 of the 32-byte raw public key. */
export async function exportPublicKey(key: CryptoKey): Promise<string> {
  return bytesToBase64(new Uint8Array(await subtle().exportKey('raw', key)));
}

/** The 32-byte private scalar (JWK `d`). */
export async function exportPrivateScalar(key: CryptoKey): Promise<Uint8Array> {
  const jwk = await subtle().exportKey('jwk', key);
  if (!jwk.d) throw new SecAggError('bad-parameters', 'the X25519 private key has no d; was it generated extractable?');
  const scalar = base64UrlToBytes(jwk.d);
  if (!scalar || scalar.length !== 32)
    throw new SecAggError('bad-parameters', 'the X25519 private scalar is not 32 bytes');
  return scalar;
}

/**
 * Imports a reconstructed private scalar and checks that its public key is
 * `expectedPublicKey` (base64); throws `key-mismatch` otherwise.
 */
export async function importCheckedPrivateScalar(
  scalar: Uint8Array,
  expectedPublicKey: string,
  deviceId: string,
): Promise<CryptoKey> {
  if (scalar.length !== 32)
    throw new SecAggError('key-mismatch', `the key reconstructed for ${deviceId} is ${scalar.length} bytes, not 32`, {
      deviceId,
    });
  const der = new Uint8Array(PKCS8_X25519_PREFIX.length + 32);
  der.set(PKCS8_X25519_PREFIX);
  der.set(scalar, PKCS8_X25519_PREFIX.length);
  let key: CryptoKey;
  try {
    key = await subtle().importKey('pkcs8', der, { name: 'X25519' }, true, ['deriveBits']);
  } catch {
    throw new SecAggError('key-mismatch', `the key reconstructed for ${deviceId} is not an X25519 private key`, {
      deviceId,
    });
  }
  const jwk = await subtle().exportKey('jwk', key);
  const expected = base64ToBytes(expectedPublicKey);
  const actual = jwk.x ? base64UrlToBytes(jwk.x) : null;
  if (!expected || !actual || bytesToBase64(actual) !== bytesToBase64(expected)) {
    throw new SecAggError(
      'key-mismatch',
      `the key reconstructed for ${deviceId} does not match the masking key it advertised; a share was wrong`,
      { deviceId },
    );
  }
  return key;
}

/** Imports a base64 raw public key; throws `bad-message` when it is not 32 bytes of X25519. */
export async function importPublicKey(base64: string, deviceId: string): Promise<CryptoKey> {
  const raw = base64ToBytes(base64);
  if (!raw || raw.length !== 32)
    throw new SecAggError('bad-message', `the public key of ${deviceId} is not 32 bytes of base64`, { deviceId });
  return subtle().importKey('raw', raw, { name: 'X25519' }, true, []);
}

/** X25519(privateKey, publicKey): 32 bytes. WebCrypto refuses low-order public keys (all-zero result). */
export async function agree(
  privateKey: CryptoKey,
  publicKey: CryptoKey,
  peerId: string,
): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: publicKey }, privateKey, 256));
  } catch {
    throw new SecAggError('bad-message', `key agreement with ${peerId} failed (a low-order or malformed public key)`, {
      peerId,
    });
  }
}
