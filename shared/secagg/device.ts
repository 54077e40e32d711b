/**
 * The device side of one SecAgg+ round, a state machine over the four
 * phases: advertise two X25519 keys, share a self-mask seed and the masking
 * key with each neighbour (Shamir, threshold t, sealed with AES-GCM), send
 * the input plus masks mod 2^32, and answer one unmasking request with one
 * share per peer, never both. Any refusal aborts the device for the round.
 *
 * @example
 * const device = await SecAggDevice.create(roundId, deviceId);
 * send(device.advertisement());
 * send(await device.shareKeys(roster));
 * const { header, masked } = await device.maskInput(forwarded, quantise(update, q));
 * send(device.unmask(request));
 */
import { split } from 'shamir-secret-sharing';
import { bytesToBase64 } from '../manifest/bytes.ts';
import { pairContext, selfMaskContext } from './context.ts';
import { maskStream } from './mask-stream.ts';
import {
  type AdvertiseKeys,
  type ForwardedShares,
  ForwardedSharesSchema,
  type MaskedInput,
  type Roster,
  RosterSchema,
  type ShareKeys,
  type UnmaskRequest,
  type UnmaskResponse,
  UnmaskRequestSchema,
} from './messages.ts';
import { buildNeighbourGraph } from './neighbour-graph.ts';
import { checkSecAggParameters, minimumNeighbours } from './parameters.ts';
import { parseOrRefuse } from './parse-message.ts';
import { rosterDigest } from './roster-digest.ts';
import { decryptSharePair, encryptSharePair, type SharePair } from './share-channel.ts';
import { SecAggError } from './secagg-error.ts';
import { agree, exportPrivateScalar, exportPublicKey, generateX25519, importPublicKey } from './x25519.ts';
import { addMod32InPlace, subtractMod32InPlace } from './mod32.ts';

export type DevicePhase = 'advertised' | 'shared-keys' | 'masked' | 'unmasked' | 'aborted';

/** What a device insists on, whatever the coordinator's roster says (the signed round configuration's terms). */
export interface DevicePolicy {
  /** The roster's `colluders` must be at least this. Default 0. */
  minimumColluders?: number;
  /** The roster's vector length must be exactly this. */
  vectorLength?: number;
  /** The roster must list at least this many devices. */
  minimumDevices?: number;
  /** The roster must list at most this many devices (more could overflow the sum's bit width). */
  maximumDevices?: number;
  /** The roster's k and t must be these, when the round fixed them. */
  neighbours?: number;
  threshold?: number;
  /**
   * An unmasking request must name at least this many survivors: the noise a
   * device's privacy rests on was calibrated to them (DDG minSurvivors).
   */
  minimumSurvivors?: number;
  /**
   * Test only, a positive control: mask without the self mask, so the
   * server's unmasked sum is wrong. Exposes this device's own input to anyone
   * who sees its masked vector and its pairwise keys; never set it otherwise.
   */
  insecureSkipSelfMask?: boolean;
}

interface KeyedRoster {
  roster: Roster;
  /** SHA-256 of the roster this device saw; every share ciphertext is bound to it. */
  digest: Uint8Array;
  neighbours: ReadonlySet<string>;
  byId: ReadonlyMap<string, Roster['devices'][number]>;
}

export class SecAggDevice {
  readonly roundId: string;
  readonly deviceId: string;
  #phase: DevicePhase = 'advertised';
  readonly #policy: DevicePolicy;
  readonly #channel: CryptoKeyPair;
  readonly #masking: CryptoKeyPair;
  readonly #advertisement: AdvertiseKeys;
  #keyed: KeyedRoster | null = null;
  #selfMaskSeed: Uint8Array | null = null;
  /** Shares each neighbour sent this device, by sender; also the set it masked with. */
  #received = new Map<string, SharePair>();

  private constructor(
    roundId: string,
    deviceId: string,
    policy: DevicePolicy,
    channel: CryptoKeyPair,
    masking: CryptoKeyPair,
    advertisement: AdvertiseKeys,
  ) {
    this.roundId = roundId;
    this.deviceId = deviceId;
    this.#policy = policy;
    this.#channel = channel;
    this.#masking = masking;
    this.#advertisement = advertisement;
  }

  /** Generates the round's two key pairs (fresh every round: keys are never reused across rounds). */
  static async create(roundId: string, deviceId: string, policy: DevicePolicy = {}): Promise<SecAggDevice> {
    const channel = await generateX25519();
    const masking = await generateX25519();
    const advertisement: AdvertiseKeys = {
      type: 'secagg.advertise-keys',
      roundId,
      deviceId,
      channelPublicKey: await exportPublicKey(channel.publicKey),
      maskingPublicKey: await exportPublicKey(masking.publicKey),
    };
    return new SecAggDevice(roundId, deviceId, policy, channel, masking, advertisement);
  }

  get phase(): DevicePhase {
    return this.#phase;
  }

  /** Phase 1: the public keys to send the coordinator. */
  advertisement(): AdvertiseKeys {
    return this.#advertisement;
  }

  /** Phase 2: checks the roster, draws the self-mask seed, and seals one share pair per neighbour. */
  async shareKeys(rosterMessage: unknown): Promise<ShareKeys> {
    return this.#guard(
      'advertised',
      async () => {
        const roster = parseOrRefuse(RosterSchema, rosterMessage, 'roster');
        const keyed = { ...this.#checkRoster(roster), digest: await rosterDigest(roster) };
        const graph = await buildNeighbourGraph(this.roundId, roster.devices, roster.parameters.neighbours);
        const neighbours = graph.neighboursOf(this.deviceId);
        const { threshold } = roster.parameters;
        const seed = globalThis.crypto.getRandomValues(new Uint8Array(32));
        const seedShares = await split(seed, neighbours.length, threshold);
        const keyShares = await split(
          await exportPrivateScalar(this.#masking.privateKey),
          neighbours.length,
          threshold,
        );
        const ciphertexts: ShareKeys['ciphertexts'] = [];
        for (let i = 0; i < neighbours.length; i++) {
          const to = neighbours[i];
          const peer = keyed.byId.get(to);
          if (!peer) throw new SecAggError('bad-message', `neighbour ${to} is not in the roster`);
          const secret = await agree(this.#channel.privateKey, await importPublicKey(peer.channelPublicKey, to), to);
          const pair = { selfMaskSeedShare: seedShares[i], maskingKeyShare: keyShares[i] };
          const address = { roundId: this.roundId, from: this.deviceId, to, rosterDigest: keyed.digest };
          ciphertexts.push({ to, ciphertext: await encryptSharePair(secret, address, pair) });
        }
        this.#keyed = { ...keyed, neighbours: new Set(neighbours) };
        this.#selfMaskSeed = seed;
        return { type: 'secagg.share-keys', roundId: this.roundId, deviceId: this.deviceId, ciphertexts };
      },
      'shared-keys',
    );
  }

  /**
   * Phase 3: opens the neighbours' shares, then returns `input` plus the self
   * mask plus one pairwise mask per neighbour that shared (+ towards a larger
   * id, - towards a smaller one), all mod 2^32. `input` is not modified.
   */
  async maskInput(
    forwardedMessage: unknown,
    input: Uint32Array,
  ): Promise<{ header: MaskedInput; masked: Uint32Array }> {
    return this.#guard(
      'shared-keys',
      async () => {
        const forwarded: ForwardedShares = parseOrRefuse(ForwardedSharesSchema, forwardedMessage, 'forwarded shares');
        const keyed = this.#keyed as KeyedRoster;
        this.#checkAddressed(forwarded.roundId, forwarded.deviceId, 'forwarded shares');
        const { vectorLength, parameters } = keyed.roster;
        if (input.length !== vectorLength)
          throw new SecAggError(
            'bad-parameters',
            `the input has ${input.length} values; the round expects ${vectorLength}`,
          );
        const received = new Map<string, SharePair>();
        for (const { from, ciphertext } of forwarded.ciphertexts) {
          if (!keyed.neighbours.has(from))
            throw new SecAggError('bad-message', `shares from ${from}, who is not a neighbour of ${this.deviceId}`, {
              from,
            });
          if (received.has(from)) throw new SecAggError('bad-message', `two sets of shares from ${from}`, { from });
          const peer = keyed.byId.get(from) as Roster['devices'][number];
          const secret = await agree(
            this.#channel.privateKey,
            await importPublicKey(peer.channelPublicKey, from),
            from,
          );
          const address = { roundId: this.roundId, from, to: this.deviceId, rosterDigest: keyed.digest };
          received.set(from, await decryptSharePair(secret, address, ciphertext));
        }
        if (received.size < parameters.threshold) {
          throw new SecAggError(
            'too-few-neighbours',
            `only ${received.size} neighbours of ${this.deviceId} shared keys; at least ${parameters.threshold} must, or its input could not be unmasked`,
            {
              deviceId: this.deviceId,
              live: received.size,
              threshold: parameters.threshold,
            },
          );
        }
        const masked = new Uint32Array(input);
        if (!this.#policy.insecureSkipSelfMask) {
          addMod32InPlace(
            masked,
            await maskStream(
              this.#selfMaskSeed as Uint8Array,
              selfMaskContext(this.roundId, this.deviceId),
              vectorLength,
            ),
          );
        }
        for (const peerId of received.keys()) {
          const peer = keyed.byId.get(peerId) as Roster['devices'][number];
          const secret = await agree(
            this.#masking.privateKey,
            await importPublicKey(peer.maskingPublicKey, peerId),
            peerId,
          );
          const stream = await maskStream(secret, pairContext(this.roundId, this.deviceId, peerId), vectorLength);
          if (this.deviceId < peerId) addMod32InPlace(masked, stream);
          else subtractMod32InPlace(masked, stream);
        }
        this.#received = received;
        const header: MaskedInput = {
          type: 'secagg.masked-input',
          roundId: this.roundId,
          deviceId: this.deviceId,
          vectorLength,
        };
        return { header, masked };
      },
      'masked',
    );
  }

  /**
   * Phase 4: for each peer whose shares this device holds, the self-mask seed
   * share if the peer survived, the masking-key share if it dropped. Refuses
   * (and aborts) a request that names one device in both lists, or this
   * device as dropped; answers once per round.
   */
  unmask(requestMessage: unknown): UnmaskResponse {
    if (this.#phase !== 'masked')
      throw this.#abort(
        new SecAggError(
          'wrong-phase',
          `device ${this.deviceId} is ${this.#phase}; it answers one unmasking request, after masking`,
        ),
      );
    try {
      const request: UnmaskRequest = parseOrRefuse(UnmaskRequestSchema, requestMessage, 'unmask request');
      this.#checkAddressed(request.roundId, this.deviceId, 'unmask request');
      const survivors = new Set(request.survivors);
      const both = request.dropped.filter((id) => survivors.has(id));
      if (both.length > 0) {
        throw new SecAggError(
          'both-shares-requested',
          `the request lists ${both.join(', ')} as both survived and dropped; revealing both shares would unmask their input`,
          { deviceIds: both },
        );
      }
      if (!survivors.has(this.deviceId))
        throw new SecAggError(
          'bad-message',
          `the request does not list ${this.deviceId} as a survivor, yet it sent a masked input`,
        );
      const { threshold } = (this.#keyed as KeyedRoster).roster.parameters;
      const fewest = Math.max(threshold, this.#policy.minimumSurvivors ?? 0);
      if (survivors.size < fewest)
        throw new SecAggError(
          'too-few-survivors',
          `only ${survivors.size} survivors; at least ${fewest} are needed (the threshold, and the survivors the noise was calibrated to)`,
          { survivors: survivors.size, needed: fewest },
        );
      const selfMaskSeedShares = request.survivors.flatMap((of) => {
        const pair = this.#received.get(of);
        return pair ? [{ of, share: bytesToBase64(pair.selfMaskSeedShare) }] : [];
      });
      const maskingKeyShares = request.dropped.flatMap((of) => {
        const pair = this.#received.get(of);
        return pair ? [{ of, share: bytesToBase64(pair.maskingKeyShare) }] : [];
      });
      this.#phase = 'unmasked';
      return {
        type: 'secagg.unmask-response',
        roundId: this.roundId,
        deviceId: this.deviceId,
        selfMaskSeedShares,
        maskingKeyShares,
      };
    } catch (error) {
      throw this.#abort(error);
    }
  }

  #checkRoster(roster: Roster): Omit<KeyedRoster, 'neighbours' | 'digest'> {
    if (roster.roundId !== this.roundId)
      throw new SecAggError('bad-message', `the roster is for round ${roster.roundId}, not ${this.roundId}`);
    const byId = new Map(roster.devices.map((d) => [d.deviceId, d]));
    if (byId.size !== roster.devices.length) throw new SecAggError('bad-message', 'the roster lists a device twice');
    const mine = byId.get(this.deviceId);
    if (
      !mine ||
      mine.channelPublicKey !== this.#advertisement.channelPublicKey ||
      mine.maskingPublicKey !== this.#advertisement.maskingPublicKey
    ) {
      throw new SecAggError('bad-message', `the roster does not carry the keys ${this.deviceId} advertised`);
    }
    const n = roster.devices.length;
    checkSecAggParameters(n, roster.parameters);
    this.#checkPolicy(roster);
    const minimumColluders = this.#policy.minimumColluders ?? 0;
    if (roster.parameters.colluders < minimumColluders) {
      throw new SecAggError(
        'bad-parameters',
        `the roster tolerates ${roster.parameters.colluders} colluders; this device requires ${minimumColluders}`,
      );
    }
    const fewest = Math.min(n - 1, minimumNeighbours(n));
    if (roster.parameters.neighbours < fewest) {
      throw new SecAggError(
        'bad-parameters',
        `${roster.parameters.neighbours} neighbours is too sparse for ${n} devices (at least ${fewest}); the coordinator could split the graph`,
      );
    }
    return { roster, byId };
  }

  /** The terms of the signed round configuration (DevicePolicy), which the coordinator's roster must keep. */
  #checkPolicy(roster: Roster): void {
    const p = this.#policy;
    const n = roster.devices.length;
    const { neighbours, threshold } = roster.parameters;
    const broken = [
      p.vectorLength !== undefined && roster.vectorLength !== p.vectorLength
        ? `vector length ${roster.vectorLength}, not ${p.vectorLength}`
        : null,
      p.minimumDevices !== undefined && n < p.minimumDevices ? `${n} devices, fewer than ${p.minimumDevices}` : null,
      p.maximumDevices !== undefined && n > p.maximumDevices ? `${n} devices, more than ${p.maximumDevices}` : null,
      p.neighbours !== undefined && neighbours !== Math.min(p.neighbours, n - 1)
        ? `${neighbours} neighbours, not ${Math.min(p.neighbours, n - 1)}`
        : null,
      p.threshold !== undefined && threshold !== p.threshold ? `threshold ${threshold}, not ${p.threshold}` : null,
    ].filter((m): m is string => m !== null);
    if (broken.length > 0)
      throw new SecAggError('bad-parameters', `the roster breaks the round's signed terms: ${broken.join('; ')}`, {
        broken,
      });
  }

  #checkAddressed(roundId: string, deviceId: string, what: string): void {
    if (roundId !== this.roundId || deviceId !== this.deviceId) {
      throw new SecAggError(
        'bad-message',
        `the ${what} is for ${deviceId} in round ${roundId}, not ${this.deviceId} in ${this.roundId}`,
      );
    }
  }

  #abort(error: unknown): unknown {
    this.#phase = 'aborted';
    this.#selfMaskSeed = null;
    this.#received.clear();
    return error;
  }

  async #guard<T>(expected: DevicePhase, step: () => Promise<T>, next: DevicePhase): Promise<T> {
    if (this.#phase !== expected)
      throw this.#abort(new SecAggError('wrong-phase', `device ${this.deviceId} is ${this.#phase}, not ${expected}`));
    try {
      const result = await step();
      this.#phase = next;
      return result;
    } catch (error) {
      throw this.#abort(error);
    }
  }
}
