/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-16 over
 * aligned 32-bit words.
 *
 * Castagnoli rather than the zip CRC-32 because it detects more error patterns
 * at the lengths we send and has hardware support (SSE 4.2 / ARMv8 `crc32c`),
 * which a host can pass to the decoder as a `Crc32c` (the coordinator does).
 * Here, in plain JavaScript for every platform: sixteen bytes per table round
 * read as four aligned `Uint32Array` loads instead of sixteen byte loads
 * (1.3 GB/s against 0.87 GB/s for the byte-loading slicing-by-8 it replaces,
 * 4 MB input, issue 15), for 16 KiB of tables built once. Big-endian hosts,
 * whose word loads would swap the bytes, take the byte-at-a-time loop.
 */

/** A CRC-32C implementation: the checksum of `bytes`, as an unsigned 32-bit integer. */
export type Crc32c = (bytes: Uint8Array) => number;

const POLY = 0x82f63b78;
const SLICES = 16;

/** `T[t * 256 + b]`: the CRC of byte b followed by t zero bytes. */
function buildTable(): Uint32Array {
  const t = new Uint32Array(SLICES * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let s = 1; s < SLICES; s++) {
      c = (t[c & 0xff] ^ (c >>> 8)) >>> 0;
      t[s * 256 + n] = c;
    }
  }
  return t;
}

const T = buildTable();
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytewise(crc: number, bytes: Uint8Array, from: number, to: number): number {
  let c = crc;
  for (let i = from; i < to; i++) c = T[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c;
}

/**
 * CRC-32C of `bytes` (the standard check value of ASCII "123456789" is 0xE3069283).
 *
 * @example
 * const sum = crc32c(new TextEncoder().encode('123456789')); // 0xe3069283
 */
export function crc32c(bytes: Uint8Array): number {
  const n = bytes.length;
  if (!LITTLE_ENDIAN || n < 64) return (bytewise(0xffffffff, bytes, 0, n) ^ 0xffffffff) >>> 0;
  // Bytes up to the first 4-byte boundary of the underlying buffer, then whole 16-byte rounds of words.
  const head = (4 - (bytes.byteOffset & 3)) & 3;
  let crc = bytewise(0xffffffff, bytes, 0, head);
  const rounds = (n - head) >>> 4;
  const w = new Uint32Array(bytes.buffer, bytes.byteOffset + head, rounds * 4);
  for (let j = 0; j < w.length; j += 4) {
    const a = crc ^ w[j];
    const b = w[j + 1];
    const c = w[j + 2];
    const d = w[j + 3];
    crc =
      T[3840 + (a & 0xff)] ^
      T[3584 + ((a >>> 8) & 0xff)] ^
      T[3328 + ((a >>> 16) & 0xff)] ^
      T[3072 + (a >>> 24)] ^
      T[2816 + (b & 0xff)] ^
      T[2560 + ((b >>> 8) & 0xff)] ^
      T[2304 + ((b >>> 16) & 0xff)] ^
      T[2048 + (b >>> 24)] ^
      T[1792 + (c & 0xff)] ^
      T[1536 + ((c >>> 8) & 0xff)] ^
      T[1280 + ((c >>> 16) & 0xff)] ^
      T[1024 + (c >>> 24)] ^
      T[768 + (d & 0xff)] ^
      T[512 + ((d >>> 8) & 0xff)] ^
      T[256 + ((d >>> 16) & 0xff)] ^
      T[d >>> 24];
  }
  crc = bytewise(crc, bytes, head + rounds * 16, n);
  return (crc ^ 0xffffffff) >>> 0;
}
