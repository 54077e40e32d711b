/**
 * The coordinator side of one SecAgg+ round, a state machine that collects
 * each phase's messages and closes it at quorum or deadline (the caller
 * decides when). Masked inputs are folded into one running sum mod 2^32 as
 * they arrive (memory O(vector), not O(devices x vector)); unmasking then
 * subtracts each survivor's self mask and, for each device that dropped after
 * sharing keys, the pairwise masks it had with survivors. The server never
 * holds a plaintext input.
 *
 * @example
 * const server = new SecAggServer({ roundId, vectorLength });
 * for (const m of advertisements) server.receiveAdvertisement(m);
 * const roster = await server.closeAdvertising();          // broadcast
 * for (const m of shareKeys) server.receiveShareKeys(m);
 * const forwarded = server.closeSharing();                 // one per device
 * for (const { header, masked } of inputs) server.receiveMaskedInput(header, masked);
 * const request = server.closeMasking();                   // broadcast to survivors
 * for (const m of responses) server.receiveUnmaskResponse(m);
 * const { sum, survivors } = await server.finish();
 */
import {
  AdvertiseKeysSchema,
  type ForwardedShares,
  MaskedInputSchema,
  type Roster,
  ShareKeysSchema,
  type UnmaskRequest,
  UnmaskResponseSchema,
} from './messages.ts';
import { addMod32InPlace } from './mod32.ts';
import { buildNeighbourGraph, type NeighbourGraph } from './neighbour-graph.ts';
import { checkSecAggParameters, type PlanOptions, planSecAgg, type SecAggParameters } from './parameters.ts';
import { parseOrRefuse } from './parse-message.ts';
import { SecAggError } from './secagg-error.ts';
import { unmaskSum, type CollectedShares } from './unmask.ts';

export type ServerPhase = 'advertising' | 'sharing' | 'masking' | 'unmasking' | 'finished' | 'aborted';

export interface SecAggServerOptions {
  roundId: string;
  /** uint32 words per input. */
  vectorLength: number;
  /**
   * (k, t, c), or a function of how many devices advertised; by default
   * planSecAgg(devices that advertised, plan).
   */
  parameters?: SecAggParameters | ((cohortSize: number) => SecAggParameters);
  plan?: PlanOptions;
}

export interface SecAggResult {
  /** Sum mod 2^32 of the survivors' inputs. */
  sum: Uint32Array;
  /** Devices whose inputs are in `sum`, in id order. */
  survivors: string[];
  /** Devices that shared keys but sent no input; their masks were removed. */
  dropped: string[];
}

export class SecAggServer {
  readonly roundId: string;
  readonly vectorLength: number;
  #phase: ServerPhase = 'advertising';
  readonly #options: SecAggServerOptions;
  readonly #advertised = new Map<string, Roster['devices'][number]>();
  #roster: Roster | null = null;
  #graph: NeighbourGraph | null = null;
  /** Sender -> (recipient -> ciphertext). */
  readonly #shared = new Map<string, Map<string, string>>();
  /** Device -> the senders whose shares it was forwarded (the peers it masks with). */
  readonly #pairs = new Map<string, Set<string>>();
  #sum: Uint32Array | null = null;
  readonly #survivors = new Set<string>();
  #request: UnmaskRequest | null = null;
  readonly #responses = new Map<string, CollectedShares>();

  constructor(options: SecAggServerOptions) {
    if (!Number.isSafeInteger(options.vectorLength) || options.vectorLength < 1) {
      throw new SecAggError('bad-parameters', `vectorLength must be an integer >= 1, got ${options.vectorLength}`);
    }
    this.roundId = options.roundId;
    this.vectorLength = options.vectorLength;
    this.#options = options;
  }

  get phase(): ServerPhase {
    return this.#phase;
  }

  /** The roster, once advertising closed. */
  get roster(): Roster | null {
    return this.#roster;
  }

  /** The neighbour graph, once advertising closed. */
  get graph(): NeighbourGraph | null {
    return this.#graph;
  }

  receiveAdvertisement(message: unknown): void {
    this.#expect('advertising');
    const m = parseOrRefuse(AdvertiseKeysSchema, message, 'key advertisement');
    this.#checkRound(m.roundId);
    if (this.#advertised.has(m.deviceId))
      throw new SecAggError('wrong-phase', `${m.deviceId} already advertised keys`, { deviceId: m.deviceId });
    this.#advertised.set(m.deviceId, {
      deviceId: m.deviceId,
      channelPublicKey: m.channelPublicKey,
      maskingPublicKey: m.maskingPublicKey,
    });
  }

  /** Fixes the cohort, its parameters and (from all its keys) its neighbour graph; returns the roster to broadcast. */
  async closeAdvertising(): Promise<Roster> {
    this.#expect('advertising');
    const devices = [...this.#advertised.values()].sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
    if (devices.length < 3)
      return this.#fail(
        new SecAggError(
          'too-few-survivors',
          `only ${devices.length} devices advertised keys; secure aggregation needs at least 3`,
        ),
      );
    const fixed = this.#options.parameters;
    let parameters: SecAggParameters;
    try {
      parameters =
        typeof fixed === 'function' ? fixed(devices.length) : (fixed ?? planSecAgg(devices.length, this.#options.plan));
      checkSecAggParameters(devices.length, parameters);
    } catch (error) {
      return this.#fail(error);
    }
    this.#graph = await buildNeighbourGraph(this.roundId, devices, parameters.neighbours);
    this.#roster = {
      type: 'secagg.roster',
      roundId: this.roundId,
      vectorLength: this.vectorLength,
      parameters,
      devices,
    };
    this.#phase = 'sharing';
    return this.#roster;
  }

  /** Takes one device's sealed shares: exactly one ciphertext per neighbour. */
  receiveShareKeys(message: unknown): void {
    this.#expect('sharing');
    const m = parseOrRefuse(ShareKeysSchema, message, 'share-keys message');
    this.#checkRound(m.roundId);
    const graph = this.#graph as NeighbourGraph;
    if (!this.#advertised.has(m.deviceId))
      throw new SecAggError('bad-message', `${m.deviceId} is not in the roster`, { deviceId: m.deviceId });
    if (this.#shared.has(m.deviceId))
      throw new SecAggError('wrong-phase', `${m.deviceId} already shared keys`, { deviceId: m.deviceId });
    const byRecipient = new Map(m.ciphertexts.map((c) => [c.to, c.ciphertext]));
    const neighbours = graph.neighboursOf(m.deviceId);
    if (
      byRecipient.size !== m.ciphertexts.length ||
      byRecipient.size !== neighbours.length ||
      neighbours.some((id) => !byRecipient.has(id))
    ) {
      throw new SecAggError(
        'bad-message',
        `${m.deviceId} must send exactly one ciphertext to each of its ${neighbours.length} neighbours`,
        { deviceId: m.deviceId },
      );
    }
    this.#shared.set(m.deviceId, byRecipient);
  }

  /** Returns, for each device that shared, the ciphertexts its neighbours addressed to it. */
  closeSharing(): Map<string, ForwardedShares> {
    this.#expect('sharing');
    const { threshold } = (this.#roster as Roster).parameters;
    if (this.#shared.size < threshold)
      return this.#fail(
        new SecAggError(
          'too-few-survivors',
          `only ${this.#shared.size} devices shared keys; at least ${threshold} must`,
        ),
      );
    const out = new Map<string, ForwardedShares>();
    for (const deviceId of this.#shared.keys()) {
      const ciphertexts: ForwardedShares['ciphertexts'] = [];
      for (const [from, byRecipient] of this.#shared) {
        const ciphertext = byRecipient.get(deviceId);
        if (ciphertext !== undefined) ciphertexts.push({ from, ciphertext });
      }
      this.#pairs.set(deviceId, new Set(ciphertexts.map((c) => c.from)));
      out.set(deviceId, { type: 'secagg.forwarded-shares', roundId: this.roundId, deviceId, ciphertexts });
    }
    this.#sum = new Uint32Array(this.vectorLength);
    this.#phase = 'masking';
    return out;
  }

  /** Folds one masked input into the running sum. */
  receiveMaskedInput(header: unknown, masked: Uint32Array): void {
    this.#expect('masking');
    const m = parseOrRefuse(MaskedInputSchema, header, 'masked-input header');
    this.#checkRound(m.roundId);
    if (!this.#pairs.has(m.deviceId))
      throw new SecAggError('bad-message', `${m.deviceId} did not share keys, so its input could not be unmasked`, {
        deviceId: m.deviceId,
      });
    if (this.#survivors.has(m.deviceId))
      throw new SecAggError('wrong-phase', `${m.deviceId} already sent its masked input`, { deviceId: m.deviceId });
    if (m.vectorLength !== this.vectorLength || masked.length !== this.vectorLength) {
      throw new SecAggError(
        'bad-message',
        `the masked input of ${m.deviceId} has ${masked.length} values; the round expects ${this.vectorLength}`,
        { deviceId: m.deviceId },
      );
    }
    addMod32InPlace(this.#sum as Uint32Array, masked);
    this.#survivors.add(m.deviceId);
  }

  /**
   * Fixes the survivors and asks them for shares. Aborts with
   * `too-few-neighbours` when some secret already cannot be recovered (fewer
   * than t of its holders survived): better now than after devices revealed shares.
   */
  closeMasking(): UnmaskRequest {
    this.#expect('masking');
    const survivors = [...this.#survivors].sort();
    const { threshold } = (this.#roster as Roster).parameters;
    if (survivors.length < threshold)
      return this.#fail(
        new SecAggError(
          'too-few-survivors',
          `only ${survivors.length} devices sent masked inputs; at least ${threshold} must`,
        ),
      );
    const dropped = this.#droppedPeersOf(new Set(survivors));
    try {
      this.#checkRecoverable(new Set(survivors), survivors, dropped);
    } catch (error) {
      return this.#fail(error);
    }
    this.#request = { type: 'secagg.unmask-request', roundId: this.roundId, survivors, dropped };
    this.#phase = 'unmasking';
    return this.#request;
  }

  /** Takes one survivor's shares; only shares the request asked of it. */
  receiveUnmaskResponse(message: unknown): void {
    this.#expect('unmasking');
    const m = parseOrRefuse(UnmaskResponseSchema, message, 'unmask response');
    this.#checkRound(m.roundId);
    if (!this.#survivors.has(m.deviceId))
      throw new SecAggError('bad-message', `${m.deviceId} is not a survivor`, { deviceId: m.deviceId });
    if (this.#responses.has(m.deviceId))
      throw new SecAggError('wrong-phase', `${m.deviceId} already answered`, { deviceId: m.deviceId });
    const request = this.#request as UnmaskRequest;
    const held = this.#pairs.get(m.deviceId) as Set<string>;
    const survivors = new Set(request.survivors);
    const dropped = new Set(request.dropped);
    const collected: CollectedShares = { selfMaskSeed: new Map(), maskingKey: new Map() };
    for (const [list, wanted, into] of [
      [m.selfMaskSeedShares, survivors, collected.selfMaskSeed],
      [m.maskingKeyShares, dropped, collected.maskingKey],
    ] as const) {
      for (const { of, share } of list) {
        if (!wanted.has(of) || !held.has(of) || into.has(of))
          throw new SecAggError('bad-message', `${m.deviceId} sent a share of ${of} that was not asked of it`, {
            deviceId: m.deviceId,
            of,
          });
        into.set(of, share);
      }
    }
    this.#responses.set(m.deviceId, collected);
  }

  /** Recovers the masks from the responses and returns the unmasked sum. */
  async finish(): Promise<SecAggResult> {
    this.#expect('unmasking');
    const request = this.#request as UnmaskRequest;
    try {
      this.#checkRecoverable(new Set(this.#responses.keys()), request.survivors, request.dropped);
      const sum = this.#sum as Uint32Array;
      await unmaskSum(sum, {
        roundId: this.roundId,
        roster: this.#roster as Roster,
        pairs: this.#pairs,
        survivors: request.survivors,
        dropped: request.dropped,
        responses: this.#responses,
      });
      this.#phase = 'finished';
      return { sum, survivors: request.survivors, dropped: request.dropped };
    } catch (error) {
      return this.#fail(error);
    }
  }

  /** Devices that shared keys, sent no input, and were paired with some survivor. */
  #droppedPeersOf(survivors: ReadonlySet<string>): string[] {
    const dropped = new Set<string>();
    for (const u of survivors) for (const v of this.#pairs.get(u) ?? []) if (!survivors.has(v)) dropped.add(v);
    return [...dropped].sort();
  }

  /**
   * Each survivor's seed and each dropped device's key is recoverable only if
   * at least t of the devices holding its shares are in `live`.
   */
  #checkRecoverable(live: ReadonlySet<string>, survivors: readonly string[], dropped: readonly string[]): void {
    const { threshold } = (this.#roster as Roster).parameters;
    for (const [ids, role] of [
      [survivors, 'survivor'],
      [dropped, 'dropped device'],
    ] as const) {
      for (const id of ids) {
        let holders = 0;
        for (const [holder, from] of this.#pairs) if (from.has(id) && live.has(holder)) holders++;
        if (holders < threshold) {
          throw new SecAggError(
            'too-few-neighbours',
            `${role} ${id} has ${holders} live neighbours holding its shares; ${threshold} are needed, so the round cannot be unmasked`,
            { deviceId: id, role, live: holders, threshold },
          );
        }
      }
    }
  }

  #expect(phase: ServerPhase): void {
    if (this.#phase !== phase)
      throw new SecAggError('wrong-phase', `the round is ${this.#phase}, not ${phase}`, { phase: this.#phase });
  }

  #checkRound(roundId: string): void {
    if (roundId !== this.roundId)
      throw new SecAggError('bad-message', `a message for round ${roundId} reached round ${this.roundId}`);
  }

  #fail(error: unknown): never {
    this.#phase = 'aborted';
    this.#sum = null;
    throw error;
  }
}
