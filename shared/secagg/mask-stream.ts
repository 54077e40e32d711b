/**
 * The mask stream: HKDF-SHA-256(seed, info = context) gives an AES-128 key;
 * AES-CTR from a zero counter block over zero bytes gives the key stream,
 * read as little-endian uint32. Only WebCrypto, so Node and browsers produce
 * the same bytes (the fixed vector in mask-stream.test.ts pins them).
 * A zero counter is safe because every (seed, context) pair derives its own key.
 */
import { cryptoView } from '../manifest/bytes.ts';

const hostIsLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The first `words` uint32 of the mask stream of `seed` under `info` (see encodeContext). */
export async function maskStream(seed: Uint8Array, info: Uint8Array, words: number): Promise<Uint32Array> {
  if (!Number.isSafeInteger(words) || words < 0)
    throw new RangeError(`words must be a non-negative integer, got ${words}`);
  const bytes = await maskStreamBytes(seed, info, words * 4);
  if (hostIsLittleEndian) return new Uint32Array(bytes.buffer, bytes.byteOffset, words);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(words);
  for (let i = 0; i < words; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

/** The first `length` bytes of the key stream (what `maskStream` reads as uint32). */
export async function maskStreamBytes(
  seed: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const subtle = globalThis.crypto.subtle;
  const base = await subtle.importKey('raw', cryptoView(seed), 'HKDF', false, ['deriveKey']);
  const key = await subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: cryptoView(info) },
    base,
    { name: 'AES-CTR', length: 128 },
    false,
    ['encrypt'],
  );
  const stream = await subtle.encrypt(
    { name: 'AES-CTR', counter: new Uint8Array(16), length: 64 },
    key,
    new Uint8Array(length),
  );
  return new Uint8Array(stream);
}
