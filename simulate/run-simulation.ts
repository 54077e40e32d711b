/**
 * `runSimulation`: federated training of N virtual clients against a real
 * coordinator: one started in this process on a temporary data dir (its
 * `app.fetch` stands in for the network), or a running one at a URL. Either
 * way the simulation speaks only HTTP: the admin API pushes the model, creates
 * the task and closes each round; clients speak the wire contract through the
 * real client transport, train with the real client core on worker threads,
 * and upload. After each round the new global version is fetched like a
 * device would and evaluated on the MNIST test set.
 */
import * as tf from '@tensorflow/tfjs';
import { FlockTransport } from '../client/federated/index.ts';
import { decodeTensors } from '../shared/codec/index.ts';
import { modelFromParts, partsFromModel, type WeightSpec } from '../shared/model/index.ts';
import type { SecureAggregation, StrategyName, UpdateEncodingName } from '../shared/protocol/index.ts';
import { evaluateHeldOut, trainCentral, type CentralResult } from './central-baseline.ts';
import { loadSimulationData, type DatasetName, type SimulationModelKind } from './simulation-data.ts';
import { createClientPool } from './client-pool.ts';
import { SECAGG_SEND_PHASES, SimulatedDevice, type DeviceTurn, type SecAggSendPhase } from './simulated-device.ts';
import { adminOf, closeRound } from './simulation-admin.ts';
import { clientsPerRoundOf, simulationPlan, type SecureAggregationInput } from './simulation-plan.ts';
import { runSecureSimulationRound, type SecureRoundRecord } from './secure-round-driver.ts';
import {
  partitionDirichlet,
  partitionIid,
  partitionPathological,
  type Partition,
  type PartitionName,
} from './partitions.ts';
import { sampleWithoutReplacement, seededRandom } from './seeded-random.ts';
import { inProcessTarget, type SimulationTarget } from './simulation-target.ts';
import { roundsToTarget, type AccuracyPoint } from './targets.ts';

export interface SimulationOptions {
  /** 'mnist' (default) or 'spamassassin' (text, through the model spec's preprocessing). */
  dataset?: DatasetName;
  model: SimulationModelKind;
  /** Epochs of the central baseline on the union of the clients' data (default: rounds x fraction x epochs, at least 1). */
  centralEpochs?: number;
  clients: number;
  fraction: number;
  epochs: number;
  batch: number;
  lr: number;
  partition: PartitionName;
  alpha: number;
  rounds: number;
  target: number;
  strategy: StrategyName;
  encoding: UpdateEncodingName;
  topkFraction: number;
  /** Undefined: no clipping in effect (a bound far above any update). */
  clipNorm?: number;
  noiseMultiplier: number;
  /**
   * Probability a selected client never reports. With secure aggregation it
   * checks in, then leaves at a phase drawn uniformly from advertise, share,
   * mask and unmask.
   */
  dropout: number;
  /** Probability a selected client trains but reports after the round closed. */
  stragglers: number;
  seed: number;
  /** Worker threads for local training; 0 trains on the main thread. */
  workers: number;
  evalExamples: number;
  /** Train examples to use (default all 60,000; tests use fewer). */
  trainExamples?: number;
  /** Stop after the first round whose test accuracy reaches `target`. */
  stopAtTarget?: boolean;
  /** App name the model and task are created under ('sim' by default). */
  app?: string;
  /** Run every round through SecAgg+ with the plan's `secureAggregation` (the coordinator fills its defaults). */
  secureAggregation?: SecureAggregationInput;
}

/** F1 and ROC AUC on the held-out set, for a binary dataset (spamassassin) only. */
export interface BinaryFigures {
  f1?: number;
  auc?: number;
}

const binaryOf = (m: BinaryFigures): BinaryFigures =>
  m.f1 === undefined || m.auc === undefined ? {} : { f1: m.f1, auc: m.auc };

export interface RoundRecord extends AccuracyPoint, BinaryFigures {
  reports: number;
  dropped: number;
  late: number;
  meanTrainLoss: number | null;
  /** Mean L2 norm of the reported updates before clipping (what --clip-norm is compared with). */
  meanUpdateNorm: number | null;
  bytesUploadedPerClient: number;
  seconds: number;
  /** Secure rounds: the coordinator's per-phase counts, abort and epsilon, and the dropouts injected. */
  secureAggregation?: SecureRoundRecord;
}

export interface SimulationResult extends BinaryFigures {
  /** The same architecture trained centrally on the union of the clients' data (binary datasets). */
  centralAccuracy?: number;
  central?: CentralResult;
  options: SimulationOptions;
  clientsPerRound: number;
  examplesPerClient: { min: number; max: number; mean: number };
  backend: string;
  history: RoundRecord[];
  initialAccuracy: number;
  finalAccuracy: number;
  bestAccuracy: number;
  roundsToTarget: number | null;
  /** The coordinator's privacy ledger for the task (central DP, or the devices' DDG noise under secure aggregation). */
  privacy: { epsilon: number; delta: number } | null;
  /** Secure aggregation as the coordinator ran it (its plan with defaults), and how many rounds aborted. */
  secureAggregation?: { plan: SecureAggregation; roundsClosed: number; roundsAborted: number };
  seconds: number;
  /** 'in-process' or the coordinator's URL. */
  coordinator: string;
  app: string;
  taskId: string;
}

function partitionFor(o: SimulationOptions, labels: Uint8Array): Partition {
  if (o.partition === 'iid') return partitionIid(labels.length, o.clients, o.seed);
  if (o.partition === 'pathological') return partitionPathological(labels, o.clients, o.seed);
  return partitionDirichlet(labels, o.clients, o.alpha, o.seed);
}

/** A client chosen to report must have uploaded; anything else names the client and why. */
function assertReported(client: number, turn: DeviceTurn, round: number): void {
  const { outcome } = turn;
  if (outcome.status === 'uploaded') return;
  if (outcome.status === 'not-selected')
    throw new Error(
      `client ${client} was not selected in round ${round} (retry after ${outcome.retryAfterSeconds} s); the simulator expects every chosen client to get a slot`,
    );
  throw new Error(`client ${client} did not report in round ${round}: ${whyNot(turn)}`);
}

/** A straggler's update must have been trained and then refused by the closed round. */
function assertRefusedLate(client: number, turn: DeviceTurn, round: number): void {
  if (turn.outcome.status === 'uploaded')
    throw new Error(`the coordinator accepted straggler ${client}'s update after round ${round} was closed`);
  if (turn.trained === null || turn.refusal === null)
    throw new Error(`straggler ${client} did not train and upload late in round ${round}: ${whyNot(turn)}`);
}

function whyNot({ outcome, trainingError, refusal }: DeviceTurn): string {
  if (trainingError !== null) return `training failed: ${trainingError}`;
  if (refusal !== null) return `the coordinator refused the update: ${refusal}`;
  return 'reason' in outcome ? `${outcome.status}: ${outcome.reason}` : outcome.status;
}

/**
 * @example
 * const result = await runSimulation({ ...DEFAULT_SIMULATION, model: '2nn', rounds: 5 }, { onRound: (r) => console.log(r) });
 * result.roundsToTarget // null or a fractional round
 */
export async function runSimulation(
  o: SimulationOptions,
  hooks: { onRound?: (r: RoundRecord) => void; target?: SimulationTarget } = {},
): Promise<SimulationResult> {
  const started = performance.now();
  const data = loadSimulationData(o.dataset ?? 'mnist', o.model, {
    trainExamples: o.trainExamples,
    evalExamples: o.evalExamples,
  });
  const { inputShape } = data;
  const partition = partitionFor(o, data.train.y);
  const sizes = partition.map((p) => p.length);
  const clientsPerRound = clientsPerRoundOf(o);
  if (o.secureAggregation && o.stragglers > 0)
    throw new Error(
      'stragglers do not apply to secure aggregation: a device late for a phase has dropped out of it (use dropout)',
    );
  const random = seededRandom(o.seed ^ 0x5eed);
  const app = o.app ?? 'sim';
  const target = hooks.target ?? (await inProcessTarget());
  const pool = await createClientPool(o.workers);
  let activeTaskId: string | null = null;
  const admin = adminOf(target);
  const { api } = admin;
  try {
    const form = new FormData();
    for (const [name, bytes] of await data.modelFiles(o.seed))
      form.append(name, new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
    form.append('stage', 'production');
    const pushed = await admin.answer(
      api.v1.admin.models[':app'].$post({ param: { app: encodeURIComponent(app) } }, { init: { body: form } }),
    );
    const plan = simulationPlan(o);
    const task = await admin.answer(
      api.v1.admin.tasks.$post({
        json: { app, name: `flock simulate ${o.model} ${o.partition}`, modelVersion: pushed.version, plan },
      }),
    );
    activeTaskId = task.id;

    const evalModel = data.createModel(o.seed);
    const { topology } = partsFromModel(evalModel);
    const evaluate = async (weights: Float32Array[], specs: WeightSpec[]) => {
      const model = await modelFromParts({ topology, weightSpecs: specs, weights });
      try {
        return await evaluateHeldOut(model, data);
      } finally {
        model.dispose();
      }
    };
    const initial = await evaluateHeldOut(evalModel, data);
    const initialAccuracy = initial.accuracy;
    evalModel.dispose();

    const publicKey = (await new FlockTransport({ baseUrl: target.baseUrl, fetch: target.fetch }).getPublicKey())
      .publicKey;
    const dataset = { images: data.train.x, labels: data.train.y, inputShape };
    const devices = new Map<number, Promise<SimulatedDevice>>();
    const deviceFor = (client: number) => {
      let device = devices.get(client);
      if (!device) {
        const runner = pool.runnerFor(client);
        device = SimulatedDevice.enroll({
          target,
          app,
          publicKey,
          client,
          dataset,
          indices: partition[client],
          runner,
        });
        devices.set(client, device);
      }
      return device;
    };

    /** A plain round: reporters upload, stragglers' uploads are let go after the operator closed it. */
    const plainRound = async (chosen: number[], round: number) => {
      const fate = chosen.map(() => (random() < o.dropout ? 'drop' : random() < o.stragglers ? 'late' : 'report'));
      // Stragglers train with the others; their uploads are let go only once the round is closed.
      let release: () => void = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      let heldRound: string | null = null;
      const stragglers = chosen
        .filter((_, i) => fate[i] === 'late')
        .map((client) => {
          let held: () => void = () => {};
          const atUpload = new Promise<void>((resolve) => (held = resolve));
          const onHeld = (roundId: string) => ((heldRound = roundId), held());
          const turn = deviceFor(client)
            .then((d) => d.turn(task.id, { held: { release: released, onHeld } }))
            .finally(held);
          return { client, atUpload, turn };
        });
      let turns: Array<{ client: number } & DeviceTurn>;
      try {
        turns = await Promise.all(
          chosen
            .filter((_, i) => fate[i] === 'report')
            .map(async (client) => ({ client, ...(await (await deviceFor(client)).turn(task.id)) })),
        );
        await Promise.all(stragglers.map((s) => s.atUpload));
      } catch (error) {
        release(); // nothing may be left waiting on a round that failed
        await Promise.allSettled(stragglers.map((s) => s.turn));
        throw error;
      }
      for (const t of turns) assertReported(t.client, t, round);
      const first = turns[0]?.outcome;
      const roundId = first && 'roundId' in first ? first.roundId : heldRound;
      const closed = roundId ? await closeRound(admin, task.id, roundId) : null;
      release();
      for (const s of stragglers) assertRefusedLate(s.client, await s.turn, round);
      return { turns, closed, dropped: fate.filter((f) => f === 'drop').length, late: stragglers.length };
    };

    /**
     * A secure round: each chosen device checks in; one drawn to drop out leaves
     * at a phase drawn uniformly from the four; the round ends itself.
     */
    const secureRound = async (chosen: number[], round: number) => {
      const dropAt = chosen.map((): SecAggSendPhase | null => {
        const drops = random() < o.dropout;
        // Drawn either way, so one seed samples the same clients with and without secure aggregation.
        const pick = random();
        return drops ? SECAGG_SEND_PHASES[Math.min(3, Math.floor(pick * 4))] : null;
      });
      const result = await runSecureSimulationRound({
        admin,
        taskId: task.id,
        chosen,
        dropAt,
        turn: async (client, secure) => (await deviceFor(client)).turn(task.id, { secure }),
      });
      if (result.round?.state === 'closed')
        chosen.forEach((client, i) => {
          const turn = result.turns[i];
          if (dropAt[i] === null) assertReported(client, turn, round);
        });
      return {
        turns: result.turns,
        closed: result.round,
        record: result.record,
        dropped: dropAt.filter((p) => p !== null).length,
        late: 0,
      };
    };

    const history: RoundRecord[] = [
      {
        round: 0,
        accuracy: initialAccuracy,
        ...binaryOf(initial),
        reports: 0,
        dropped: 0,
        late: 0,
        meanTrainLoss: null,
        meanUpdateNorm: null,
        bytesUploadedPerClient: 0,
        seconds: 0,
      },
    ];
    for (let round = 1; round <= o.rounds; round++) {
      const roundStart = performance.now();
      const chosen = sampleWithoutReplacement(o.clients, clientsPerRound, random);
      const secure = o.secureAggregation ? await secureRound(chosen, round) : null;
      const { turns, closed, dropped, late } = secure ?? (await plainRound(chosen, round));
      // Under secure aggregation only a masked input was sent (its bytes are set once masked).
      const sent = turns.flatMap((t) => (t.trained && (!secure || t.trained.bytes > 0) ? [t.trained] : []));
      let metrics = history[history.length - 1] as { accuracy: number; f1?: number; auc?: number };
      if (closed?.state === 'closed' && closed.resultVersion !== null) {
        const version = await admin.answer(
          api.v1.admin.models[':app'].versions[':version'].$get({
            param: { app: encodeURIComponent(app), version: String(closed.resultVersion) },
          }),
        );
        const fp32 = version.variants.find((v) => v.encoding === 'fp32')!;
        const { transport } = await devices.values().next().value!;
        const tensors = decodeTensors(await transport.getBlob(fp32.sha256));
        metrics = await evaluate(
          tensors.map((t) => t.data),
          tensors.map((t) => ({ name: t.name, shape: t.shape })),
        );
      }
      const losses = sent.map((u) => u.trainLoss).filter(Number.isFinite);
      const { accuracy } = metrics;
      const record: RoundRecord = {
        round,
        accuracy,
        ...binaryOf(metrics),
        reports: secure ? (secure.record.stats?.phase === 'done' ? secure.record.stats.masked : 0) : sent.length,
        dropped,
        late,
        meanTrainLoss: losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : null,
        meanUpdateNorm: sent.length ? sent.reduce((n, u) => n + u.preClipNorm, 0) / sent.length : null,
        bytesUploadedPerClient: sent.length ? Math.round(sent.reduce((n, u) => n + u.bytes, 0) / sent.length) : 0,
        seconds: (performance.now() - roundStart) / 1000,
        ...(secure ? { secureAggregation: secure.record } : {}),
      };
      history.push(record);
      hooks.onRound?.(record);
      if (o.stopAtTarget && accuracy >= o.target) break;
    }

    // Done: a paused task is never offered to the coordinator's real devices.
    await admin.answer(api.v1.admin.tasks[':id'].pause.$post({ param: { id: task.id }, json: {} }));
    activeTaskId = null;
    // The coordinator's ledger (null without noise), never a figure the simulator works out itself.
    const view = await admin.answer(api.v1.admin.tasks[':id'].$get({ param: { id: task.id } }));
    const privacy: SimulationResult['privacy'] = view.privacySpent;
    const secureRecords = history.flatMap((h) => (h.secureAggregation ? [h.secureAggregation] : []));
    const secureAggregation = view.plan.secureAggregation && {
      plan: view.plan.secureAggregation,
      roundsClosed: secureRecords.filter((r) => r.stats?.phase === 'done').length,
      roundsAborted: secureRecords.filter((r) => r.stats?.phase !== 'done').length,
    };
    const accuracies = history.map((h) => h.accuracy);
    let central: CentralResult | null = null;
    if (data.positiveClass !== null) {
      const epochs = o.centralEpochs ?? Math.max(1, Math.round(o.rounds * o.fraction * o.epochs));
      central = await trainCentral(data, partition, { epochs, batch: o.batch, lr: o.lr, seed: o.seed });
    }
    const last = history[history.length - 1];
    return {
      options: o,
      clientsPerRound,
      examplesPerClient: {
        min: Math.min(...sizes),
        max: Math.max(...sizes),
        mean: sizes.reduce((a, b) => a + b, 0) / sizes.length,
      },
      backend: tf.getBackend(),
      history,
      initialAccuracy,
      finalAccuracy: accuracies[accuracies.length - 1],
      ...binaryOf(last),
      ...(central ? { centralAccuracy: central.accuracy, central } : {}),
      bestAccuracy: Math.max(...accuracies),
      roundsToTarget: roundsToTarget(history, o.target),
      privacy,
      ...(secureAggregation ? { secureAggregation } : {}),
      seconds: (performance.now() - started) / 1000,
      coordinator: target.label,
      app,
      taskId: task.id,
    };
  } catch (error) {
    // A run that fails half way must not leave its task open to the coordinator's real devices.
    if (activeTaskId !== null)
      await admin
        .answer(api.v1.admin.tasks[':id'].pause.$post({ param: { id: activeTaskId }, json: {} }))
        .catch(() => undefined);
    throw error;
  } finally {
    await pool.close();
    if (!hooks.target) await target.close();
  }
}
