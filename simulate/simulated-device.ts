/**
 * One simulated device, kept the way the SDK keeps a device: a store with its
 * registration, the verified active model (delivered by `syncModel`, as
 * `connect()` does) and its examples (the client's partition). Its rounds go
 * through the SDK's round loop one turn at a time (`runBackgroundRound`, as
 * the service worker does): check in, train on the client pool's runner,
 * queue the encoded update in the outbox and upload it, over the real
 * `FlockTransport` against the coordinator.
 *
 * A straggler is a device whose upload reaches the coordinator after the
 * round closed: its fetch holds the update's PUT until the simulator lets it
 * go, so the coordinator's own refusal decides what happens to it.
 *
 * In a secure-aggregation round the round loop runs the SecAgg+ phases on
 * the runner's `secure` API instead of the upload. A device told to drop out
 * at a phase leaves the round there, as a closed tab would: its runner
 * refuses that phase, so it sends nothing from then on. Every phase message
 * the coordinator accepted (202) is reported to the round driver
 * (secure-round-driver.ts), which closes a phase that waits only for devices
 * that left.
 */
import type { LocalUpdate } from '../client/federated/index.ts';
import { FlockTransport } from '../client/federated/transport.ts';
import { syncModel } from '../client/model-loader.ts';
import type { ClientStore } from '../client/storage/index.ts';
import { runBackgroundRound, type BackgroundTaskOutcome } from '../client/training/background-round.ts';
import type { TrainingRunner } from '../client/training/training-runner.ts';
import type { SecureRoundWorkerApi } from '../client/training/secure-aggregation/worker-rounds.ts';
import { PROTOCOL_VERSION, type SecAggPhase } from '../shared/protocol/index.ts';
import { partitionStore } from './partition-store.ts';
import type { SharedDataset } from './shared-dataset.ts';
import type { SimulationTarget } from './simulation-target.ts';

/** What one turn of a device came to, with what its runner trained (null when it did not train). */
export interface DeviceTurn {
  outcome: BackgroundTaskOutcome;
  trained: (Pick<LocalUpdate, 'trainLoss' | 'numExamples' | 'preClipNorm'> & { bytes: number }) | null;
  /** Why training failed, when it did. */
  trainingError: string | null;
  /** The coordinator's answer (status and body) when it refused the update. */
  refusal: string | null;
}

/** The phases a device sends a message in, as the coordinator names them. */
export type SecAggSendPhase = Extract<SecAggPhase, 'advertise' | 'share' | 'mask' | 'unmask'>;
export const SECAGG_SEND_PHASES: readonly SecAggSendPhase[] = ['advertise', 'share', 'mask', 'unmask'];

/** A device's part in a secure round: where it drops out (null: never), and who hears its progress. */
export interface SecureTurn {
  dropAt: SecAggSendPhase | null;
  /** The coordinator accepted this device's message of `phase` in round `roundId`. */
  onSent(phase: SecAggSendPhase, roundId: string): void;
  /** The device left the round at `phase` (it sends nothing more). */
  onDropped(phase: SecAggSendPhase): void;
}

/** A straggler's upload: held until `release` settles; `onHeld` hears its round when it is first held. */
export interface HeldUpload {
  release: Promise<void>;
  onHeld: (roundId: string) => void;
}

export interface EnrollInput {
  target: SimulationTarget;
  app: string;
  /** The coordinator's manifest key, pinned (fetched once for the fleet). */
  publicKey: string;
  client: number;
  dataset: SharedDataset;
  indices: Int32Array;
  runner: TrainingRunner;
}

// A turn only ends early on a hang; a large client's epochs on the CNN take minutes.
const TURN_CAP_MS = 60 * 60_000;

const ROUTE_PHASE: Record<string, SecAggSendPhase> = {
  advertise: 'advertise',
  shares: 'share',
  masked: 'mask',
  unmask: 'unmask',
};

/** The round and phase of a secure-round message a device sends (POST/PUT .../secagg/<route>), or null. */
function secAggSend(url: string, method: string | undefined): { roundId: string; phase: SecAggSendPhase } | null {
  if (method !== 'POST' && method !== 'PUT') return null;
  const match = /\/v1\/rounds\/([^/]+)\/secagg\/([a-z]+)$/.exec(new URL(url).pathname);
  const phase = match ? ROUTE_PHASE[match[2]] : undefined;
  return match && phase ? { roundId: decodeURIComponent(match[1]), phase } : null;
}

/** The round of an update upload (`PUT /v1/rounds/:id/updates`), or null for any other request. */
function uploadRound(url: string, method: string | undefined): string | null {
  if (method !== 'PUT') return null;
  const match = /\/v1\/rounds\/([^/]+)\/updates$/.exec(new URL(url).pathname);
  return match ? decodeURIComponent(match[1]) : null;
}

export class SimulatedDevice {
  readonly client: number;
  readonly transport: FlockTransport;
  readonly #input: EnrollInput;
  readonly #store: ClientStore;
  #hold: HeldUpload | null = null;
  #secure: SecureTurn | null = null;
  #trained: DeviceTurn['trained'] = null;
  #trainingError: string | null = null;
  #refusal: string | null = null;

  private constructor(input: EnrollInput, store: ClientStore, transport: FlockTransport) {
    this.client = input.client;
    this.#input = input;
    this.#store = store;
    this.transport = transport;
  }

  /**
   * Registers the device and delivers it the app's production model.
   * @example const device = await SimulatedDevice.enroll({ target, app, publicKey, client: 3, dataset, indices, runner });
   */
  static async enroll(input: EnrollInput): Promise<SimulatedDevice> {
    const { target, app, publicKey } = input;
    const store = partitionStore(app, input.dataset, input.indices);
    const transport = new FlockTransport({ baseUrl: target.baseUrl, fetch: target.fetch });
    const registered = await transport.register({
      app,
      platform: { runtime: 'node' },
      protocolVersion: PROTOCOL_VERSION,
    });
    await store.putDevice({ app, deviceId: registered.deviceId, token: registered.token });
    // The fleet's pinned key, kept as the device's trusted one: the round loop checks secure rounds' signed
    // configurations against the key its store trusts (a service-worker turn has no connect() option to carry it).
    await store.trustPublicKey(app, publicKey);
    // A slow device's choice (int8 when offered): the stored variant only serves inference, which
    // a simulated device never runs, and N devices each keep their own copy of it.
    const synced = await syncModel({ transport, store, app, publicKey, slowBackend: true });
    if (synced.status === 'updated') synced.loaded.model.dispose();
    return new SimulatedDevice(input, store, transport);
  }

  /** One turn of the round loop for `taskId`; with `held`, a straggler's; with `secure`, its part in a secure round. */
  async turn(taskId: string, o: { held?: HeldUpload; secure?: SecureTurn } = {}): Promise<DeviceTurn> {
    const { target, app, runner, indices } = this.#input;
    this.#hold = o.held ?? null;
    this.#secure = o.secure ?? null;
    this.#trained = null;
    this.#trainingError = null;
    this.#refusal = null;
    const [outcome] = await runBackgroundRound({
      url: target.baseUrl,
      app,
      tasks: [taskId],
      store: this.#store,
      runner: async () => this.#watched(runner),
      runtime: 'node',
      timeCapMs: TURN_CAP_MS,
      maxExamplesPerRound: indices.length,
      fetch: (input, init) => this.#fetch(input, init),
    });
    return { outcome, trained: this.#trained, trainingError: this.#trainingError, refusal: this.#refusal };
  }

  /** The pool's runner, noting what it trained or why it failed. */
  #watched(runner: TrainingRunner): TrainingRunner {
    return {
      backend: runner.backend,
      flockKernels: runner.flockKernels,
      ...(runner.secure ? { secure: this.#watchedSecure(runner.secure) } : {}),
      train: async (taskId, job) => {
        try {
          const update = await runner.train(taskId, job);
          this.#trained = {
            trainLoss: update.trainLoss,
            numExamples: update.numExamples,
            preClipNorm: update.preClipNorm,
            bytes: update.bytes.byteLength,
          };
          return update;
        } catch (error) {
          this.#trainingError = error instanceof Error ? error.message : String(error);
          throw error;
        }
      },
      close: () => {},
    };
  }

  /** The runner's secure-round phases, noting what it trained and sent, and refusing the phase this device drops at. */
  #watchedSecure(secure: SecureRoundWorkerApi): SecureRoundWorkerApi {
    const leaves = (phase: SecAggSendPhase) => {
      const turn = this.#secure;
      if (turn?.dropAt !== phase) return;
      turn.onDropped(phase);
      throw new Error(`simulated dropout: device ${this.client} left the round before its ${phase} message`);
    };
    return {
      secaggTrain: async (key, config, job) => {
        try {
          const summary = await secure.secaggTrain(key, config, job);
          this.#trained = {
            trainLoss: summary.trainLoss,
            numExamples: summary.numExamples,
            preClipNorm: summary.preClipNorm,
            bytes: 0,
          };
          return summary;
        } catch (error) {
          this.#trainingError = error instanceof Error ? error.message : String(error);
          throw error;
        }
      },
      secaggAdvertise: async (key) => (leaves('advertise'), secure.secaggAdvertise(key)),
      secaggShare: async (key, roster) => (leaves('share'), secure.secaggShare(key, roster)),
      secaggMask: async (key, forwarded) => {
        leaves('mask');
        const out = await secure.secaggMask(key, forwarded);
        if (this.#trained) this.#trained.bytes = out.masked.byteLength;
        return out;
      },
      secaggUnmask: async (key, request) => (leaves('unmask'), secure.secaggUnmask(key, request)),
      secaggForget: (key) => secure.secaggForget(key),
    };
  }

  async #fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const url = input instanceof Request ? input.url : String(input);
    const method = init?.method ?? (input instanceof Request ? input.method : undefined);
    const sent = this.#secure ? secAggSend(url, method) : null;
    if (sent) {
      const response = await this.#input.target.fetch(input, init);
      if (response.status === 202) this.#secure?.onSent(sent.phase, sent.roundId);
      return response;
    }
    const round = uploadRound(url, method);
    const hold = round === null ? null : this.#hold;
    if (round !== null && hold) {
      hold.onHeld(round);
      await hold.release;
    }
    const response = await this.#input.target.fetch(input, init);
    if (round !== null && !response.ok)
      this.#refusal = `${response.status} ${(await response.clone().text()).slice(0, 300)}`;
    return response;
  }
}
