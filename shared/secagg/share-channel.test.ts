import { describe, expect, it } from 'vitest';
import { decryptSharePair, encryptSharePair, SHARE_BYTES } from './share-channel.ts';
import { agree, generateX25519 } from './x25519.ts';

const pair = {
  selfMaskSeedShare: Uint8Array.from({ length: SHARE_BYTES }, (_, i) => i),
  maskingKeyShare: Uint8Array.from({ length: SHARE_BYTES }, (_, i) => 100 + i),
};

const digest = new Uint8Array(32).fill(7);
const at = (roundId: string, from: string, to: string, rosterDigest: Uint8Array = digest) => ({
  roundId,
  from,
  to,
  rosterDigest,
});

async function secrets() {
  const a = await generateX25519();
  const b = await generateX25519();
  const eve = await generateX25519();
  return {
    ab: await agree(a.privateKey, b.publicKey, 'b'),
    ba: await agree(b.privateKey, a.publicKey, 'a'),
    eveB: await agree(eve.privateKey, b.publicKey, 'b'),
  };
}

describe('share channel', () => {
  it('opens for the right round and pair', async () => {
    const { ab, ba } = await secrets();
    const sealed = await encryptSharePair(ab, at('round-1', 'a', 'b'), pair);
    expect(await decryptSharePair(ba, at('round-1', 'a', 'b'), sealed)).toEqual(pair);
  });

  it('refuses a wrong round id, a swapped direction or recipient, another key, a flipped bit', async () => {
    const { ab, ba, eveB } = await secrets();
    const sealed = await encryptSharePair(ab, at('round-1', 'a', 'b'), pair);
    await expect(decryptSharePair(ba, at('round-2', 'a', 'b'), sealed)).rejects.toMatchObject({
      code: 'decrypt-failed',
    });
    await expect(decryptSharePair(ba, at('round-1', 'b', 'a'), sealed)).rejects.toMatchObject({
      code: 'decrypt-failed',
    });
    await expect(decryptSharePair(ba, at('round-1', 'a', 'c'), sealed)).rejects.toMatchObject({
      code: 'decrypt-failed',
    });
    await expect(decryptSharePair(eveB, at('round-1', 'a', 'b'), sealed)).rejects.toMatchObject({
      code: 'decrypt-failed',
    });
    const bytes = Uint8Array.from(atob(sealed), (c) => c.charCodeAt(0));
    bytes[20] ^= 1;
    await expect(
      decryptSharePair(ba, at('round-1', 'a', 'b'), btoa(String.fromCharCode(...bytes))),
    ).rejects.toMatchObject({
      code: 'decrypt-failed',
    });
  });

  it('refuses a ciphertext sealed under another view of the roster (split view)', async () => {
    const { ab, ba } = await secrets();
    const sealed = await encryptSharePair(ab, at('round-1', 'a', 'b'), pair);
    const other = new Uint8Array(32).fill(7);
    other[31] = 8;
    await expect(decryptSharePair(ba, at('round-1', 'a', 'b', other), sealed)).rejects.toMatchObject({
      code: 'decrypt-failed',
    });
    expect(await decryptSharePair(ba, at('round-1', 'a', 'b', Uint8Array.from(digest)), sealed)).toEqual(pair);
  });

  it('uses a fresh IV each time', async () => {
    const { ab } = await secrets();
    expect(await encryptSharePair(ab, at('r', 'a', 'b'), pair)).not.toBe(
      await encryptSharePair(ab, at('r', 'a', 'b'), pair),
    );
  });
});
