/**
 * What a device refuses: a request for both shares of one peer, a second
 * request, a roster that does not carry its keys or is too sparse, shares
 * re-addressed or sealed under a swapped key; and what the server refuses: a
 * reconstructed key that is not the advertised one.
 */
import { describe, expect, it } from 'vitest';
import { SecAggDevice } from './device.ts';
import type { ForwardedShares, Roster, UnmaskRequest } from './messages.ts';
import { SecAggServer } from './server.ts';

const ROUND = 'round-9';
const D = 16;

/** Five devices on the complete graph (k = 4, t = 3), driven to just before unmasking. */
async function toMasked(dropAtMasking: string[] = []) {
  const server = new SecAggServer({
    roundId: ROUND,
    vectorLength: D,
    parameters: { neighbours: 4, threshold: 3, colluders: 0 },
  });
  const devices = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => SecAggDevice.create(ROUND, id)));
  for (const d of devices) server.receiveAdvertisement(d.advertisement());
  const roster = await server.closeAdvertising();
  for (const d of devices) server.receiveShareKeys(await d.shareKeys(roster));
  const forwarded = server.closeSharing();
  for (const d of devices) {
    if (dropAtMasking.includes(d.deviceId)) continue;
    const { header, masked } = await d.maskInput(forwarded.get(d.deviceId), new Uint32Array(D).fill(1));
    server.receiveMaskedInput(header, masked);
  }
  return { server, devices, roster, forwarded };
}

describe('SecAggDevice.unmask', () => {
  it('refuses a request naming one device as both survivor and dropped, and then refuses everything', async () => {
    const { server, devices } = await toMasked(['e']);
    const honest = server.closeMasking();
    expect(honest).toMatchObject({ survivors: ['a', 'b', 'c', 'd'], dropped: ['e'] });
    const greedy: UnmaskRequest = { ...honest, dropped: ['b', 'e'] };
    expect(() => devices[0].unmask(greedy)).toThrow(expect.objectContaining({ code: 'both-shares-requested' }));
    expect(devices[0].phase).toBe('aborted');
    expect(() => devices[0].unmask(honest)).toThrow(expect.objectContaining({ code: 'wrong-phase' }));
  });

  it('answers once: a second, different request gets nothing', async () => {
    const { server, devices } = await toMasked(['e']);
    const request = server.closeMasking();
    const answer = devices[1].unmask(request);
    expect(answer.selfMaskSeedShares.map((s) => s.of)).toEqual(['a', 'c', 'd']); // its own share it never held
    expect(answer.maskingKeyShares.map((s) => s.of)).toEqual(['e']);
    const flipped: UnmaskRequest = { ...request, survivors: ['a', 'b', 'c', 'd', 'e'], dropped: [] };
    expect(() => devices[1].unmask(flipped)).toThrow(expect.objectContaining({ code: 'wrong-phase' }));
  });

  it('refuses a request that calls it dropped, or comes from another round', async () => {
    const { server, devices } = await toMasked();
    const request = server.closeMasking();
    expect(() => devices[0].unmask({ ...request, survivors: ['b', 'c', 'd', 'e'], dropped: ['a'] })).toThrow(
      expect.objectContaining({ code: 'bad-message' }),
    );
    expect(() => devices[1].unmask({ ...request, roundId: 'round-10' })).toThrow(
      expect.objectContaining({ code: 'bad-message' }),
    );
  });
});

describe('SecAggDevice.shareKeys / maskInput', () => {
  async function fresh() {
    const server = new SecAggServer({
      roundId: ROUND,
      vectorLength: D,
      parameters: { neighbours: 4, threshold: 3, colluders: 0 },
    });
    const devices = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => SecAggDevice.create(ROUND, id)));
    for (const d of devices) server.receiveAdvertisement(d.advertisement());
    return { server, devices, roster: await server.closeAdvertising() };
  }

  it('refuses a roster that swaps its own key, is for another round, or is too sparse for its size', async () => {
    const { devices, roster } = await fresh();
    const other = devices[1].advertisement().maskingPublicKey;
    const swapped: Roster = {
      ...roster,
      devices: roster.devices.map((d) => (d.deviceId === 'a' ? { ...d, maskingPublicKey: other } : d)),
    };
    await expect(devices[0].shareKeys(swapped)).rejects.toMatchObject({ code: 'bad-message' });
    await expect(devices[1].shareKeys({ ...roster, roundId: 'round-10' })).rejects.toMatchObject({
      code: 'bad-message',
    });
    await expect(
      devices[2].shareKeys({ ...roster, parameters: { neighbours: 2, threshold: 2, colluders: 0 } }),
    ).rejects.toMatchObject({ code: 'bad-parameters' });
    await expect(
      devices[3].shareKeys({ ...roster, parameters: { neighbours: 4, threshold: 2, colluders: 0 } }),
    ).rejects.toMatchObject({ code: 'bad-parameters' });
    expect(devices[4].phase).toBe('advertised');
    await expect(devices[4].shareKeys({ ...roster, devices: 'all' })).rejects.toMatchObject({ code: 'bad-message' });
  });

  it('refuses shares sealed under a key the coordinator swapped into the roster', async () => {
    const { devices, roster } = await fresh();
    const mallory = await SecAggDevice.create(ROUND, 'a');
    // b is told a's channel key is mallory's: what a sealed for b no longer opens.
    const forB: Roster = {
      ...roster,
      devices: roster.devices.map((d) =>
        d.deviceId === 'a' ? { ...d, channelPublicKey: mallory.advertisement().channelPublicKey } : d,
      ),
    };
    const fromA = await devices[0].shareKeys(roster);
    await devices[1].shareKeys(forB);
    const toB = fromA.ciphertexts.find((c) => c.to === 'b')?.ciphertext as string;
    const forwarded: ForwardedShares = {
      type: 'secagg.forwarded-shares',
      roundId: ROUND,
      deviceId: 'b',
      ciphertexts: [{ from: 'a', ciphertext: toB }],
    };
    await expect(devices[1].maskInput(forwarded, new Uint32Array(D))).rejects.toMatchObject({ code: 'decrypt-failed' });
  });

  // A ciphertext replayed into another round is refused by the AEAD itself (share-channel.test.ts):
  // across rounds every key differs too, so only the channel level can isolate the round binding.
  it('refuses ciphertexts re-labelled as coming from other senders', async () => {
    const { server, devices, roster } = await fresh();
    for (const d of devices) server.receiveShareKeys(await d.shareKeys(roster));
    const forwarded = server.closeSharing().get('c') as ForwardedShares;
    const [first, second] = forwarded.ciphertexts;
    const relabelled = {
      ...forwarded,
      ciphertexts: [
        { from: first.from, ciphertext: second.ciphertext },
        { from: second.from, ciphertext: first.ciphertext },
        ...forwarded.ciphertexts.slice(2),
      ],
    };
    await expect(devices[2].maskInput(relabelled, new Uint32Array(D))).rejects.toMatchObject({
      code: 'decrypt-failed',
    });
    expect(devices[2].phase).toBe('aborted');
  });

  it('refuses to mask when fewer than t neighbours shared keys', async () => {
    const { server, devices, roster } = await fresh();
    for (const d of devices.slice(0, 3)) server.receiveShareKeys(await d.shareKeys(roster)); // d, e drop
    const forwarded = server.closeSharing();
    await expect(devices[0].maskInput(forwarded.get('a'), new Uint32Array(D))).rejects.toMatchObject({
      code: 'too-few-neighbours',
      details: { live: 2, threshold: 3 },
    });
  });
});

describe('SecAggServer.finish', () => {
  it('refuses a masking key rebuilt from wrong shares (it must match the advertised key)', async () => {
    const { server, devices } = await toMasked(['e']);
    const request = server.closeMasking();
    for (const d of devices.slice(0, 4)) {
      const answer = d.unmask(request);
      const forged = answer.maskingKeyShares.map(({ of, share }) => {
        const bytes = Uint8Array.from(atob(share), (c) => c.charCodeAt(0));
        bytes[0] ^= 0x5a; // same x coordinate, wrong value
        return { of, share: btoa(String.fromCharCode(...bytes)) };
      });
      server.receiveUnmaskResponse({ ...answer, maskingKeyShares: forged });
    }
    await expect(server.finish()).rejects.toMatchObject({ code: 'key-mismatch', details: { deviceId: 'e' } });
    expect(server.phase).toBe('aborted');
  });

  it('refuses a response with a share that was not asked of that device', async () => {
    const { server, devices } = await toMasked(['e']);
    const request = server.closeMasking();
    const answer = devices[0].unmask(request);
    const extra = {
      ...answer,
      maskingKeyShares: [...answer.maskingKeyShares, { of: 'b', share: answer.selfMaskSeedShares[0].share }],
    };
    expect(() => server.receiveUnmaskResponse(extra)).toThrow(expect.objectContaining({ code: 'bad-message' }));
  });

  it('sums five devices exactly, with e dropping after sharing', async () => {
    const { server, devices } = await toMasked(['e']);
    const request = server.closeMasking();
    for (const d of devices.slice(0, 4)) server.receiveUnmaskResponse(d.unmask(request));
    const { sum, survivors, dropped } = await server.finish();
    expect(Array.from(sum)).toEqual(new Array(D).fill(4));
    expect(survivors).toEqual(['a', 'b', 'c', 'd']);
    expect(dropped).toEqual(['e']);
  });
});

describe('SecAggDevice: the roster each device saw binds its shares (split view)', () => {
  it('refuses to mask when its neighbours were shown a roster with one key swapped', async () => {
    const server = new SecAggServer({
      roundId: ROUND,
      vectorLength: D,
      parameters: { neighbours: 3, threshold: 3, colluders: 0 },
    });
    const devices = await Promise.all(['a', 'b', 'c', 'd'].map((id) => SecAggDevice.create(ROUND, id)));
    for (const d of devices) server.receiveAdvertisement(d.advertisement());
    const honest = await server.closeAdvertising();
    // Everyone but 'a' is shown a roster in which 'd' carries the keys of a device the coordinator made.
    const sybil = await SecAggDevice.create(ROUND, 'd');
    const { channelPublicKey, maskingPublicKey } = sybil.advertisement();
    const swapped: Roster = {
      ...honest,
      devices: honest.devices.map((x) => (x.deviceId === 'd' ? { ...x, channelPublicKey, maskingPublicKey } : x)),
    };
    const shared = [await devices[0].shareKeys(honest)];
    for (const d of devices.slice(1, 3)) shared.push(await d.shareKeys(swapped));
    shared.push(await devices[3].shareKeys(honest)); // 'd' must see its own keys, or it refuses the roster at once
    // A coordinator that merely forwards: each device gets what the others addressed to it.
    const forwardedTo = (id: string): ForwardedShares => ({
      type: 'secagg.forwarded-shares',
      roundId: ROUND,
      deviceId: id,
      ciphertexts: shared.flatMap((m) =>
        m.ciphertexts.filter((c) => c.to === id).map((c) => ({ from: m.deviceId, ciphertext: c.ciphertext })),
      ),
    });
    for (const d of devices) {
      await expect(d.maskInput(forwardedTo(d.deviceId), new Uint32Array(D))).rejects.toMatchObject({
        code: 'decrypt-failed',
      });
      expect(d.phase).toBe('aborted');
    }
  });

  it('opens its shares when every device saw the same roster (the control)', async () => {
    const { devices } = await toMasked();
    expect(devices.every((d) => d.phase === 'masked')).toBe(true);
  });
});

describe('SecAggDevice policy: the signed terms the roster and the request must keep', () => {
  it('refuses a roster with more devices, another vector length or other (k, t) than the policy allows', async () => {
    const server = new SecAggServer({
      roundId: ROUND,
      vectorLength: D,
      parameters: { neighbours: 4, threshold: 3, colluders: 0 },
    });
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const others = await Promise.all(ids.slice(1).map((id) => SecAggDevice.create(ROUND, id)));
    const policies = [{ maximumDevices: 4 }, { vectorLength: D + 1 }, { threshold: 4 }, { minimumDevices: 6 }];
    const candidates = await Promise.all(policies.map((p) => SecAggDevice.create(ROUND, 'a', p)));
    server.receiveAdvertisement(candidates[0].advertisement());
    for (const d of others) server.receiveAdvertisement(d.advertisement());
    const roster = await server.closeAdvertising();
    await expect(candidates[0].shareKeys(roster)).rejects.toMatchObject({ code: 'bad-parameters' });
    for (const c of candidates.slice(1)) {
      // Same roster with this candidate's own keys in place of the first one's.
      const mine = c.advertisement();
      const view: Roster = {
        ...roster,
        devices: roster.devices.map((x) =>
          x.deviceId === 'a'
            ? { deviceId: 'a', channelPublicKey: mine.channelPublicKey, maskingPublicKey: mine.maskingPublicKey }
            : x,
        ),
      };
      await expect(c.shareKeys(view)).rejects.toMatchObject({ code: 'bad-parameters' });
    }
  });

  it('refuses an unmasking request with fewer survivors than the noise was calibrated to', async () => {
    const server = new SecAggServer({
      roundId: ROUND,
      vectorLength: D,
      parameters: { neighbours: 4, threshold: 3, colluders: 0 },
    });
    const devices = await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map((id) => SecAggDevice.create(ROUND, id, { minimumSurvivors: 5 })),
    );
    for (const d of devices) server.receiveAdvertisement(d.advertisement());
    const roster = await server.closeAdvertising();
    for (const d of devices) server.receiveShareKeys(await d.shareKeys(roster));
    const forwarded = server.closeSharing();
    for (const d of devices.slice(0, 4)) {
      const { header, masked } = await d.maskInput(forwarded.get(d.deviceId), new Uint32Array(D));
      server.receiveMaskedInput(header, masked);
    }
    const request = server.closeMasking(); // 4 survivors >= t = 3, so the server goes on
    expect(() => devices[0].unmask(request)).toThrow(expect.objectContaining({ code: 'too-few-survivors' }));
  });
});
