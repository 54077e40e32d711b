import { describe, expect, it } from 'vitest';
import { sha256Hex, verifySha256 } from './hash.ts';
import { ManifestError } from './manifest-error.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('sha256', () => {
  it('matches the FIPS 180-2 test vectors', async () => {
    expect(await sha256Hex(utf8(''))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(await sha256Hex(utf8('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(await sha256Hex(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('hashes only the view, not the whole underlying buffer, and accepts ArrayBuffers and shared memory', async () => {
    const backing = utf8('xxabcxx');
    const expected = await sha256Hex(utf8('abc'));
    expect(await sha256Hex(backing.subarray(2, 5))).toBe(expected);
    expect(await sha256Hex(utf8('abc').buffer)).toBe(expected);
    const shared = new Uint8Array(new SharedArrayBuffer(3));
    shared.set(utf8('abc'));
    expect(await sha256Hex(shared)).toBe(expected);
  });

  it('verifySha256 passes for the right bytes and throws hash_mismatch for one flipped bit', async () => {
    const file = new Uint8Array(10_000).map((_, i) => (i * 31) & 0xff);
    const hash = await sha256Hex(file);
    await expect(verifySha256(file, hash)).resolves.toBeUndefined();
    await expect(verifySha256(file, hash.toUpperCase())).resolves.toBeUndefined();
    const tampered = file.slice();
    tampered[5000] ^= 1;
    const err = await verifySha256(tampered, hash).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as ManifestError).code).toBe('hash_mismatch');
    expect((err as ManifestError).message).toContain(hash);
  });
});
