/**
 * The device's side of federated training, as a scheduler: for each
 * configured task, wait until the device is eligible, check in, and when the
 * round invites it, hand the round's global weights and the recorded examples
 * to the training runner (a Worker in browsers), queue the encoded update in
 * the outbox and flush it. Waits honour the coordinator's retryAfterSeconds
 * (never earlier, plus jitter) and back off exponentially after failures.
 * The main thread only moves buffers: decoding, training, clipping, noise and
 * encoding all run in the runner.
 *
 * A round with secure aggregation (a signed configuration in the check-in
 * answer) runs its phases instead of the upload (secure-aggregation/secure-round.ts).
 *
 * This is the one path for a device's round: connect() runs it, the service
 * worker runs one turn of it (runBackgroundRound), and the Node integration
 * tests drive their devices through it.
 */
import { decodeTensors } from '../../shared/codec/index.ts';
import { RdpAccountant } from '../../shared/dp/index.ts';
import type { ModelTopology, WeightSpec } from '../../shared/model/index.ts';
import {
  DEFAULT_OUTPUT_SPEC,
  type CheckInSelected,
  type Runtime,
  type UpdateMeta,
} from '../../shared/protocol/index.ts';
import type { FlockEvents } from '../events.ts';
import type { FlockTransport } from '../federated/transport.ts';
import { exampleLayout, trainingTargets } from '../inference/index.ts';
import type { ClientStore } from '../storage/index.ts';
import { askPolicy, type EligibilityPolicy } from './eligibility.ts';
import { enqueueUpdate, flushOutbox, type FlushOutcome } from './outbox-flush.ts';
import { runSecureRound } from './secure-aggregation/secure-round.ts';
import type { TrainingJob, TrainingRunner } from './training-runner.ts';

/** Privacy a device has spent on one task through local noise (its own guarantee, before any central DP). */
export interface LocalPrivacySpent {
  epsilon: number;
  delta: number;
  rounds: number;
}

export interface TrainingSchedulerOptions {
  app: string;
  tasks: string[];
  store: ClientStore;
  /** A transport that carries the device token once `device()` resolved. */
  transport: FlockTransport;
  /** Registers the device if needed. */
  device: () => Promise<{ deviceId: string; token: string }>;
  /** Started on the first invitation, then reused. */
  runner: () => Promise<TrainingRunner>;
  events: FlockEvents;
  eligibility: EligibilityPolicy;
  /** How often an ineligible device looks again (default 30 s). */
  eligibilityPollMs?: number;
  /** Most examples used in one round, newest first (default 2000). */
  maxExamplesPerRound?: number;
  runtime?: Runtime;
  random?: () => number;
  /** The manifest key pinned by connect's publicKey option; else the key the store trusts is used. */
  publicKey?: string;
}

const utf8 = new TextDecoder();
const MAX_FAILURE_BACKOFF_MS = 15 * 60_000;

/**
 * Runs the check-in / train / upload loop of every configured task until `stop()`.
 *
 * @example
 * const scheduler = new TrainingScheduler({ app, tasks: ['task_1'], store, transport, device, runner, events, eligibility });
 * scheduler.start();
 * await scheduler.stop();
 */
export class TrainingScheduler {
  readonly #o: TrainingSchedulerOptions;
  readonly #random: () => number;
  readonly #topologies = new Map<string, ModelTopology>();
  readonly #privacy = new Map<string, { accountant: RdpAccountant; delta: number; rounds: number }>();
  readonly #pending = new Map<string, { taskId: string; roundId: string }>();
  readonly #sleepers = new Set<() => void>();
  #loops: Promise<void>[] = [];
  #runner: Promise<TrainingRunner> | null = null;
  #stopped = false;
  readonly #stopping = new AbortController();
  #flushing: Promise<void> | null = null;

  constructor(options: TrainingSchedulerOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
  }

  start(): void {
    this.#loops = this.#o.tasks.map((taskId) => this.#loop(taskId));
  }

  /** The backend the runner trains on, once started. */
  async trainingBackend(): Promise<string | null> {
    return this.#runner ? ((await this.#runner.catch(() => null))?.backend ?? null) : null;
  }

  /** Local-DP spending per task (empty when no task asks for local noise). */
  privacySpent(): Record<string, LocalPrivacySpent> {
    const out: Record<string, LocalPrivacySpent> = {};
    for (const [taskId, p] of this.#privacy)
      out[taskId] = { epsilon: p.accountant.getEpsilon(p.delta), delta: p.delta, rounds: p.rounds };
    return out;
  }

  /**
   * Send the due outbox now (also done before each check-in). On 'online',
   * `ignoreBackoff` sends entries still waiting out a backoff earned offline.
   */
  flush(options: { ignoreBackoff?: boolean } = {}): Promise<void> {
    this.#flushing ??= this.#flushNow(options.ignoreBackoff ?? false).finally(() => {
      this.#flushing = null;
    });
    return this.#flushing;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort();
    for (const wake of this.#sleepers) wake();
    await Promise.all(this.#loops);
    await this.#flushing?.catch(() => {});
    if (this.#runner) (await this.#runner.catch(() => null))?.close();
  }

  async #flushNow(ignoreBackoff: boolean): Promise<void> {
    await this.#o.device(); // registers first: the transport then carries the token
    const outcomes = await flushOutbox({
      store: this.#o.store,
      transport: this.#o.transport,
      random: this.#random,
      ignoreBackoff,
    });
    for (const outcome of outcomes) this.#settle(outcome);
  }

  #settle(outcome: FlushOutcome): void {
    const round = this.#pending.get(outcome.id);
    if (outcome.status === 'rescheduled' || round === undefined) return;
    this.#pending.delete(outcome.id);
    if (outcome.status === 'dropped') {
      this.#o.events.emit('error', {
        error: new Error(`the update for round ${round.roundId} was refused (${outcome.code}): ${outcome.message}`),
        during: 'round',
      });
    }
    this.#o.events.emit('round-finished', { ...round, uploaded: outcome.status === 'uploaded' });
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  async #loop(taskId: string): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      let waitMs: number;
      try {
        waitMs = await this.#turn(taskId);
        failures = 0;
      } catch (error) {
        if (this.#stopped) return;
        this.#o.events.emit('error', {
          error: error instanceof Error ? error : new Error(String(error)),
          during: 'round',
        });
        // Full jitter on an exponential ceiling, so a fleet hit by one outage does not return as a herd.
        waitMs = Math.max(1000, this.#random() * Math.min(MAX_FAILURE_BACKOFF_MS, 2000 * 2 ** failures++));
      }
      await this.#sleep(waitMs);
    }
  }

  /** One check-in (and round, when invited); returns how long to wait before the next. */
  async #turn(taskId: string): Promise<number> {
    const o = this.#o;
    const poll = o.eligibilityPollMs ?? 30_000;
    const verdict = await askPolicy(o.eligibility);
    if (!verdict.eligible) return poll;
    await this.flush().catch(() => {}); // a failed flush is retried later; it must not block check-ins
    const numExamples = await o.store.countExamples(o.app);
    if (numExamples === 0) return poll;
    const { deviceId } = await o.device();
    const runnerBackend = await this.trainingBackend();
    const answer = await o.transport.checkIn(taskId, {
      deviceId,
      taskId,
      numExamples,
      ...(o.runtime ? { runtime: o.runtime } : {}),
      ...(runnerBackend ? { backend: runnerBackend } : {}),
    });
    // Never earlier than the coordinator asked; up to 20% later so devices spread out.
    if (answer.status === 'retry') return answer.retryAfterSeconds * 1000 * (1 + 0.2 * this.#random());
    await this.#round(answer, deviceId);
    return 1000 + 1000 * this.#random();
  }

  async #round(answer: CheckInSelected, deviceId: string): Promise<void> {
    const o = this.#o;
    const round = { taskId: answer.taskId, roundId: answer.roundId };
    o.events.emit('round-started', round);
    try {
      this.#runner ??= o.runner();
      const runner = await this.#runner;
      const job = await this.#job(answer);
      if (answer.secureAggregation) {
        // Secure aggregation: the phases replace the upload; a refusal or an abort throws (an 'error' event says why).
        const trustedPublicKey = o.publicKey ?? (await o.store.getPointer(o.app)).trustedPublicKey;
        const secure = { selected: answer, deviceId, job, runner, transport: o.transport, trustedPublicKey };
        await runSecureRound({ ...secure, signal: this.#stopping.signal, random: this.#random });
        o.events.emit('round-finished', { ...round, uploaded: true });
        return;
      }
      // User-timing marks let apps (and the browser tests) see exactly when the worker trained.
      globalThis.performance?.mark?.('flock:train-start', { detail: round });
      const update = await runner.train(answer.taskId, job);
      globalThis.performance?.mark?.('flock:train-end', { detail: round });
      const meta: UpdateMeta = {
        roundId: answer.roundId,
        deviceId,
        numExamples: update.numExamples,
        preClipNorm: update.preClipNorm,
        ...(Number.isFinite(update.trainLoss) ? { trainLoss: update.trainLoss } : {}),
        ...(Number.isFinite(update.trainAccuracy)
          ? { trainAccuracy: Math.min(1, Math.max(0, update.trainAccuracy)) }
          : {}),
        epochs: update.epochs,
        encoding: update.encoding,
        backend: update.backend,
        durationMs: update.durationMs,
      };
      const entry = await enqueueUpdate(o.store, o.transport.baseUrl, update.bytes, meta);
      this.#pending.set(entry.id, round);
      this.#notePrivacy(answer);
    } catch (error) {
      o.events.emit('round-finished', { ...round, uploaded: false });
      throw error;
    }
    await this.flush().catch(() => {}); // offline: the update waits in the outbox for 'online'
  }

  #notePrivacy(answer: CheckInSelected): void {
    const sigma = answer.plan.localNoiseMultiplier;
    if (sigma === undefined || sigma <= 0) return;
    let entry = this.#privacy.get(answer.taskId);
    if (!entry)
      this.#privacy.set(
        answer.taskId,
        (entry = { accountant: new RdpAccountant(), delta: answer.plan.privacyBudget?.delta ?? 1e-5, rounds: 0 }),
      );
    // From the device's own view each round is one unsampled Gaussian release of its clipped update.
    entry.accountant.compose({ kind: 'gaussian', noiseMultiplier: sigma });
    entry.rounds++;
  }

  async #topology(answer: CheckInSelected): Promise<ModelTopology> {
    const o = this.#o;
    const hash =
      answer.modelTopologyHash ?? (await o.store.getModel(o.app, answer.globalVersion))?.manifest.modelTopologyHash;
    if (hash === undefined)
      throw new Error(
        `round ${answer.roundId} names no model topology and version ${answer.globalVersion} is not stored; update the coordinator`,
      );
    const cached = this.#topologies.get(hash);
    if (cached) return cached;
    const parsed: unknown = JSON.parse(utf8.decode(await o.transport.getBlob(hash)));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new Error(`topology blob ${hash} is not a JSON object`);
    const { topologyHash: _registryField, ...topology } = parsed as ModelTopology;
    this.#topologies.set(hash, topology);
    return topology;
  }

  async #job(answer: CheckInSelected): Promise<TrainingJob> {
    const o = this.#o;
    const [topology, weightBytes, pointer] = await Promise.all([
      this.#topology(answer),
      o.transport.getBlob(answer.globalWeights.hash),
      o.store.getPointer(o.app),
    ]);
    const active = pointer.activeVersion === null ? undefined : await o.store.getModel(o.app, pointer.activeVersion);
    if (!active)
      throw new Error(
        `no active model of "${o.app}" on this device, so the example layout is unknown; connect() first`,
      );
    const { exampleShape, size } = exampleLayout(active.inputSpec);
    const tensors = decodeTensors(weightBytes);
    const weightSpecs: WeightSpec[] = tensors.map((t) => ({ name: t.name, shape: t.shape }));
    const examples = (await o.store.listExamples(o.app)).slice(-(o.maxExamplesPerRound ?? 2000));
    const x = new Float32Array(examples.length * size);
    examples.forEach((e, i) => {
      if (e.input.length !== size)
        throw new Error(
          `a recorded example has ${e.input.length} values but the model takes ${size}; clear examples recorded for another model`,
        );
      // Stored inputs are already features (record ran the version's preprocessing): trained on as they are.
      x.set(e.input, i * size);
    });
    const output = active.modelSpec?.output ?? DEFAULT_OUTPUT_SPEC;
    const units = output.kind === 'regression' ? (examples[0]?.target?.length ?? 1) : 1;
    const { y, width } = trainingTargets(examples, output, units);
    const { localEpochs, batchSize, learningRate, clipNorm, localNoiseMultiplier, updateEncoding } = answer.plan;
    return {
      topology,
      weightSpecs,
      // Own buffers per tensor, so the job can be transferred without copying the blob twice.
      globalWeights: tensors.map((t) =>
        t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength ? t.data : t.data.slice(),
      ),
      examples: { x, y, count: examples.length, inputShape: exampleShape, output: output.kind, targetWidth: width },
      plan: { localEpochs, batchSize, learningRate, clipNorm, localNoiseMultiplier, updateEncoding },
      // Frozen layers train as non-trainable and stay out of the update (the coordinator expects exactly the rest).
      ...(active.modelSpec?.frozenLayers ? { frozenLayers: active.modelSpec.frozenLayers } : {}),
    };
  }
}
