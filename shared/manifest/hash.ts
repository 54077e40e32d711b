/**
 * SHA-256 content hashes through WebCrypto, as lowercase hex: the addresses of
 * blobs and shards, and the check that a downloaded file is the one a signed
 * manifest names.
 */
import { bytesToHex, cryptoView } from './bytes.ts';
import { ManifestError } from './manifest-error.ts';

/**
 * SHA-256 of `bytes` as 64 lowercase hex digits.
 *
 * @example
 * await sha256Hex(new TextEncoder().encode('abc'))
 * // 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
 */
export async function sha256Hex(bytes: Uint8Array | ArrayBuffer): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', cryptoView(bytes));
  return bytesToHex(new Uint8Array(digest));
}

/**
 * Throws `ManifestError('hash_mismatch')` unless SHA-256 of `bytes` is `expectedHex`.
 *
 * @example
 * await verifySha256(shardBytes, shard.hash); // before writing the shard to IndexedDB
 */
export async function verifySha256(bytes: Uint8Array | ArrayBuffer, expectedHex: string): Promise<void> {
  const actual = await sha256Hex(bytes);
  if (actual !== expectedHex.toLowerCase()) {
    throw new ManifestError(
      'hash_mismatch',
      `content hash mismatch: expected sha256 ${expectedHex}, got ${actual} over ${bytes.byteLength} bytes; the download is corrupt or tampered, discard it and fetch again`,
      { expected: expectedHex, actual, size: bytes.byteLength },
    );
  }
}
