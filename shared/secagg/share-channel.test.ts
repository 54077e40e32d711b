import { describe, expect, it } from 'vitest';
import { decryptSharePair, encryptSharePair, SHARE_BYTES } from './share-channel.ts';
import { agree, generateX25519 } from './x25519.ts';

const pair = {
  selfMaskSeedShare: Uint8Array.from({ length: SHARE_BYTES }, (_, i) => i),
  maskingKeyShare: Uint8Array.from({ length: SHARE_BYTES }, (_, i) => 100 + i),
};

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
    const sealed = await encryptSharePair(ab, 'round-1', 'a', 'b', pair);
    expect(await decryptSharePair(ba, 'round-1', 'a', 'b', sealed)).toEqual(pair);
  });

  it('refuses a wrong round id, a swapped direction or recipient, another key, a flipped bit', async () => {
    const { ab, ba, eveB } = await secrets();
    const sealed = await encryptSharePair(ab, 'round-1', 'a', 'b', pair);
    await expect(decryptSharePair(ba, 'round-2', 'a', 'b', sealed)).rejects.toMatchObject({ code: 'decrypt-failed' });
    await expect(decryptSharePair(ba, 'round-1', 'b', 'a', sealed)).rejects.toMatchObject({ code: 'decrypt-failed' });
    await expect(decryptSharePair(ba, 'round-1', 'a', 'c', sealed)).rejects.toMatchObject({ code: 'decrypt-failed' });
    await expect(decryptSharePair(eveB, 'round-1', 'a', 'b', sealed)).rejects.toMatchObject({ code: 'decrypt-failed' });
    const bytes = Uint8Array.from(atob(sealed), (c) => c.charCodeAt(0));
    bytes[20] ^= 1;
    await expect(decryptSharePair(ba, 'round-1', 'a', 'b', btoa(String.fromCharCode(...bytes)))).rejects.toMatchObject({
      code: 'decrypt-failed',
    });
  });

  it('uses a fresh IV each time', async () => {
    const { ab } = await secrets();
    expect(await encryptSharePair(ab, 'r', 'a', 'b', pair)).not.toBe(await encryptSharePair(ab, 'r', 'a', 'b', pair));
  });
});
