/**
 * One secure-aggregation round in this process: the SecAggServer state
 * machine, who was selected and who sent what in each phase, the deadlines,
 * and why the round aborted if it did. Plain state, no I/O: the registry
 * (secure-aggregation-rounds.ts) stores its stats, fails or publishes the
 * round, and drops this object when the round ends, and with it everything
 * but the aggregate (keys, ciphertexts, the masked running sum).
 *
 * Survivors are the devices whose masked input is in the sum. A survivor
 * that does not answer the unmask request is still one (its input and its
 * noise are in the sum); unmasking then needs t answers per secret, which
 * SecAggServer checks.
 */
import type { WeightSpec } from '../../../shared/model/index.ts';
import {
  type SecAggAbortReason,
  type SecAggAborted,
  type SecAggPhase,
  type SecAggRoundConfig,
  type SecAggRoundStats,
  type SignedSecAggRoundConfig,
} from '../../../shared/protocol/index.ts';
import {
  type AdvertiseKeys,
  type ForwardedShares,
  type MaskedInput,
  planSecAgg,
  type Roster,
  type SecAggParameters,
  type SecAggResult,
  SecAggServer,
  type ShareKeys,
  safeThreshold,
  type UnmaskRequest,
  type UnmaskResponse,
} from '../../../shared/secagg/index.ts';
import { SecAggError } from '../../../shared/secagg/index.ts';
import { ApiError } from '../../http/api-error.ts';
import type { RoundDdg } from './round-ddg.ts';

/** A phase GET's answer, as the contract's secAggAnswerSchema. */
export type SecAggAnswer<M> =
  | { status: 'ready'; message: M }
  | { status: 'waiting'; phase: SecAggPhase; retryAfterSeconds: number }
  | SecAggAborted;

/** (k, t, c) for the cohort that advertised: the plan's k when it fits, else the sparsest safe graph. */
export function graphParameters(graph: SecAggRoundConfig['graph']): (cohortSize: number) => SecAggParameters {
  return (n) => {
    const c = graph.colluders;
    if (graph.neighbours === undefined) return planSecAgg(n, { colluders: c, dropoutFraction: graph.dropoutFraction });
    // Fewer devices advertised than the plan's k needs: every device is then a neighbour of every other.
    if (graph.neighbours > n - 1) return { neighbours: n - 1, threshold: safeThreshold(n - 1, c), colluders: c };
    return {
      neighbours: graph.neighbours,
      threshold: graph.threshold ?? safeThreshold(graph.neighbours, c),
      colluders: c,
    };
  };
}

/** SecAggServer's refusals as the HTTP errors the contract names (409 wrong phase, else 400). */
export function apiErrorOf(error: unknown): unknown {
  if (!(error instanceof SecAggError)) return error;
  if (error.code === 'wrong-phase') return new ApiError('conflict', error.message, { secagg: error.code });
  return new ApiError('bad_request', error.message, { secagg: error.code });
}

const abortReasonOf = (error: unknown): SecAggAbortReason => {
  if (error instanceof SecAggError && error.code === 'too-few-neighbours') return 'too_few_neighbours';
  if (error instanceof SecAggError && (error.code === 'too-few-survivors' || error.code === 'bad-parameters'))
    return 'too_few_survivors';
  return 'unmask_failed';
};

export interface SecAggRoundInit {
  roundId: string;
  taskId: string;
  app: string;
  selectionLimit: number;
  signed: SignedSecAggRoundConfig;
  ddg: RoundDdg;
  rotationSeed: Uint8Array;
  /** Every weight of the round's version, in order (the sum keeps this layout). */
  specs: WeightSpec[];
}

export class SecAggRound {
  readonly roundId: string;
  readonly taskId: string;
  readonly app: string;
  readonly selectionLimit: number;
  readonly signed: SignedSecAggRoundConfig;
  readonly ddg: RoundDdg;
  readonly rotationSeed: Uint8Array;
  readonly specs: WeightSpec[];
  readonly deadlines: { advertise: number; share: number; mask: number; unmask: number };
  readonly selected = new Set<string>();
  #phase: SecAggPhase = 'advertise';
  #server: SecAggServer | null;
  readonly #advertised = new Set<string>();
  readonly #shared = new Set<string>();
  readonly #masked = new Set<string>();
  readonly #unmasked = new Set<string>();
  /** Masked inputs admitted on their header whose body is being read. */
  readonly #receiving = new Set<string>();
  #roster: Roster | null = null;
  #forwarded: Map<string, ForwardedShares> | null = null;
  #request: UnmaskRequest | null = null;
  #aborted: SecAggAborted | null = null;
  epsilonSpent: number | null = null;

  constructor(o: SecAggRoundInit) {
    this.roundId = o.roundId;
    this.taskId = o.taskId;
    this.app = o.app;
    this.selectionLimit = o.selectionLimit;
    this.signed = o.signed;
    this.ddg = o.ddg;
    this.rotationSeed = o.rotationSeed;
    this.specs = o.specs;
    const d = o.signed.config.deadlines;
    this.deadlines = {
      advertise: Date.parse(d.advertiseBy),
      share: Date.parse(d.shareBy),
      mask: Date.parse(d.maskBy),
      unmask: Date.parse(d.unmaskBy),
    };
    this.#server = new SecAggServer({
      roundId: o.roundId,
      vectorLength: o.signed.config.vectorLength,
      parameters: graphParameters(o.signed.config.graph),
    });
  }

  get config(): SecAggRoundConfig {
    return this.signed.config;
  }

  get phase(): SecAggPhase {
    return this.#phase;
  }

  get minSurvivors(): number {
    return this.ddg.options.minSurvivors;
  }

  get aborted(): SecAggAborted | null {
    return this.#aborted;
  }

  /** Whether a check-in may still join: only while keys are being advertised and slots remain. */
  get admitsSelection(): boolean {
    return this.#phase === 'advertise' && this.#aborted === null;
  }

  stats(): SecAggRoundStats {
    return {
      phase: this.#phase,
      selected: this.selected.size,
      advertised: this.#advertised.size,
      shared: this.#shared.size,
      masked: this.#masked.size,
      unmasked: this.#unmasked.size,
      abortReason: this.#aborted?.reason ?? null,
      epsilonSpent: this.epsilonSpent,
    };
  }

  /** The deadline of the phase in progress (ms), or null once the round is over. */
  get phaseDeadline(): number | null {
    switch (this.#phase) {
      case 'advertise':
        return this.deadlines.advertise;
      case 'share':
        return this.deadlines.share;
      case 'mask':
        return this.deadlines.mask;
      case 'unmask':
        return this.deadlines.unmask;
      default:
        return null;
    }
  }

  /** True when every device the phase waits for has sent, so it may close before its deadline. */
  get phaseComplete(): boolean {
    switch (this.#phase) {
      case 'advertise':
        return this.selected.size >= this.selectionLimit && this.#advertised.size === this.selected.size;
      case 'share':
        return this.#shared.size === (this.#roster?.devices.length ?? -1);
      case 'mask':
        return this.#receiving.size === 0 && this.#masked.size === (this.#forwarded?.size ?? -1);
      case 'unmask':
        return this.#unmasked.size === (this.#request?.survivors.length ?? -1);
      default:
        return false;
    }
  }

  /** 403 unless the device was selected for this round. */
  requireSelected(deviceId: string): void {
    if (!this.selected.has(deviceId))
      throw new ApiError('not_selected', `device ${deviceId} was not selected for round ${this.roundId}`);
  }

  /** 400 unless a message names this round and the calling device. */
  requireAddressed(message: { roundId: string; deviceId: string }, deviceId: string): void {
    if (message.roundId !== this.roundId)
      throw new ApiError('bad_request', `the message is for round ${message.roundId}, sent to round ${this.roundId}`);
    if (message.deviceId !== deviceId)
      throw new ApiError('bad_request', `the message names device ${message.deviceId}, sent by ${deviceId}`);
  }

  #requirePhase(phase: SecAggPhase): void {
    if (this.#phase !== phase)
      throw new ApiError('conflict', `round ${this.roundId} is in phase ${this.#phase}, not ${phase}`, {
        phase: this.#phase,
      });
  }

  #live(): SecAggServer {
    if (!this.#server) throw new ApiError('conflict', `round ${this.roundId} is over`);
    return this.#server;
  }

  receiveAdvertisement(message: AdvertiseKeys): void {
    this.#requirePhase('advertise');
    try {
      this.#live().receiveAdvertisement(message);
    } catch (error) {
      throw apiErrorOf(error);
    }
    this.#advertised.add(message.deviceId);
  }

  receiveShareKeys(message: ShareKeys): void {
    this.#requirePhase('share');
    try {
      this.#live().receiveShareKeys(message);
    } catch (error) {
      throw apiErrorOf(error);
    }
    this.#shared.add(message.deviceId);
  }

  /** Admits a masked input on its header, before its body is read; returns the exact body length. */
  admitMasked(header: MaskedInput): number {
    this.#requirePhase('mask');
    const id = header.deviceId;
    if (!this.#forwarded?.has(id))
      throw new ApiError('bad_request', `${id} did not share keys, so its input could not be unmasked`);
    if (this.#masked.has(id) || this.#receiving.has(id))
      throw new ApiError('conflict', `${id} already sent its masked input`);
    if (header.vectorLength !== this.config.vectorLength)
      throw new ApiError(
        'bad_request',
        `the masked input header says ${header.vectorLength} words; the round takes ${this.config.vectorLength}`,
      );
    this.#receiving.add(id);
    return this.config.vectorLength * 4;
  }

  /** Folds an admitted masked input into the running sum (or releases its admission when `words` is null). */
  foldMasked(header: MaskedInput, words: Uint32Array | null): void {
    this.#receiving.delete(header.deviceId);
    if (words === null) return;
    this.#requirePhase('mask');
    try {
      this.#live().receiveMaskedInput(header, words);
    } catch (error) {
      throw apiErrorOf(error);
    }
    this.#masked.add(header.deviceId);
  }

  receiveUnmaskResponse(message: UnmaskResponse): void {
    this.#requirePhase('unmask');
    try {
      this.#live().receiveUnmaskResponse(message);
    } catch (error) {
      throw apiErrorOf(error);
    }
    this.#unmasked.add(message.deviceId);
  }

  #waitOr<M>(ready: M | null, phase: SecAggPhase, now: number): SecAggAnswer<M> {
    if (this.#aborted) return this.#aborted;
    if (ready !== null) return { status: 'ready', message: ready };
    const deadline = this.phaseDeadline ?? now;
    return {
      status: 'waiting',
      phase,
      retryAfterSeconds: Math.min(5, Math.max(1, Math.ceil((deadline - now) / 1000))),
    };
  }

  rosterFor(deviceId: string, now: number): SecAggAnswer<Roster> {
    if (this.#roster && !this.#advertised.has(deviceId))
      throw new ApiError(
        'conflict',
        `${deviceId} advertised no keys before the roster closed; it is out of this round`,
      );
    return this.#waitOr(this.#roster, this.#phase, now);
  }

  sharesFor(deviceId: string, now: number): SecAggAnswer<ForwardedShares> {
    if (this.#forwarded && !this.#forwarded.has(deviceId))
      throw new ApiError('conflict', `${deviceId} shared no keys before sharing closed; it is out of this round`);
    return this.#waitOr(this.#forwarded?.get(deviceId) ?? null, this.#phase, now);
  }

  unmaskRequestFor(deviceId: string, now: number): SecAggAnswer<UnmaskRequest> {
    if (this.#request && !this.#request.survivors.includes(deviceId))
      throw new ApiError('conflict', `${deviceId} sent no masked input before masking closed; it is out of this round`);
    return this.#waitOr(this.#request, this.#phase, now);
  }

  /** Ends the round as aborted; drops the server and its running sum. */
  abort(reason: SecAggAbortReason, message: string): SecAggAborted {
    if (this.#aborted) return this.#aborted;
    this.#aborted = { status: 'aborted', reason, message };
    this.#phase = 'aborted';
    this.#server = null;
    this.#roster = null;
    this.#forwarded = null;
    return this.#aborted;
  }

  #belowMinimum(count: number, what: string): boolean {
    if (count >= this.minSurvivors) return false;
    this.abort(
      'too_few_survivors',
      `only ${count} of ${this.selected.size} selected devices ${what}; the round needs ${this.minSurvivors} (secureAggregation.minSurvivors)`,
    );
    return true;
  }

  /**
   * Closes the phase in progress (its devices all sent, or its deadline came).
   * Returns the result once unmasking closed, else null; aborts instead of throwing.
   */
  async closePhase(): Promise<SecAggResult | null> {
    const server = this.#live();
    try {
      if (this.#phase === 'advertise') {
        if (this.#belowMinimum(this.#advertised.size, 'advertised keys')) return null;
        this.#roster = await server.closeAdvertising();
        this.#phase = 'share';
      } else if (this.#phase === 'share') {
        if (this.#belowMinimum(this.#shared.size, 'shared keys')) return null;
        this.#forwarded = server.closeSharing();
        this.#roster = null;
        this.#phase = 'mask';
      } else if (this.#phase === 'mask') {
        if (this.#belowMinimum(this.#masked.size, 'sent masked inputs')) return null;
        this.#request = server.closeMasking();
        this.#forwarded = null;
        this.#phase = 'unmask';
      } else if (this.#phase === 'unmask') {
        const result = await server.finish();
        this.#phase = 'done';
        this.#server = null;
        return result;
      }
    } catch (error) {
      this.abort(abortReasonOf(error), error instanceof Error ? error.message : String(error));
    }
    return null;
  }
}
