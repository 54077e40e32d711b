import { createCipheriv, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bytesToHex } from '../manifest/bytes.ts';
import { encodeContext, pairContext, selfMaskContext } from './context.ts';
import { maskStream, maskStreamBytes } from './mask-stream.ts';

const seed = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('maskStream', () => {
  it('gives the fixed test vector (to be compared with Chromium)', async () => {
    const info = selfMaskContext('round-1', 'device-a');
    expect(bytesToHex(info)).toBe(
      '0000000f666c6f636b2d7365636167672f76310000000973656c662d6d61736b00000007726f756e642d31000000086465766963652d61',
    );
    expect(bytesToHex(await maskStreamBytes(seed, info, 32))).toBe(
      '7e7801cbbe152ac037ac1280c0f04eca45e58f906855e869f709016f9f1ffc84',
    );
    expect(Array.from(await maskStream(seed, info, 8))).toEqual([
      3405871230, 3223983550, 2148707383, 3394171072, 2425349445, 1776833896, 1862339063, 2231115679,
    ]);
  });

  it('equals HKDF-SHA-256 + AES-128-CTR computed with node:crypto, read little-endian', async () => {
    const info = pairContext('round-7', 'device-b', 'device-a');
    const key = Buffer.from(hkdfSync('sha256', seed, new Uint8Array(0), info, 16));
    const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    const expected = Buffer.concat([cipher.update(Buffer.alloc(4 * 5000)), cipher.final()]);
    const words = await maskStream(seed, info, 5000);
    expect(Buffer.from(words.buffer, words.byteOffset, words.byteLength).equals(expected)).toBe(true);
    expect(words[4999]).toBe(expected.readUInt32LE(4 * 4999));
  });

  it('is deterministic, a prefix of a longer stream, and different for another context or seed', async () => {
    const info = selfMaskContext('round-1', 'device-a');
    const a = await maskStream(seed, info, 1000);
    expect(await maskStream(seed, info, 1000)).toEqual(a);
    expect((await maskStream(seed, info, 3000)).subarray(0, 1000)).toEqual(a);
    expect(await maskStream(seed, selfMaskContext('round-2', 'device-a'), 1000)).not.toEqual(a);
    expect(await maskStream(seed, selfMaskContext('round-1', 'device-b'), 1000)).not.toEqual(a);
    const otherSeed = seed.slice();
    otherSeed[0] ^= 1;
    expect(await maskStream(otherSeed, info, 1000)).not.toEqual(a);
  });
});

describe('encodeContext', () => {
  it('never encodes two different id lists alike (length-prefixed fields)', () => {
    const a = bytesToHex(encodeContext('self-mask', 'r', ['ab', 'c']));
    const b = bytesToHex(encodeContext('self-mask', 'r', ['a', 'bc']));
    const c = bytesToHex(encodeContext('self-mask', 'r', ['abc']));
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it('orders a pair so both ends derive the same pairwise context', () => {
    expect(pairContext('r', 'x', 'y')).toEqual(pairContext('r', 'y', 'x'));
  });
});
