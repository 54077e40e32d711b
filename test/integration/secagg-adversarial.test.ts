/**
 * Devices refuse a lying coordinator (issue 17). Four Node devices run their
 * secure-aggregation round through the SDK's round loop (TrainingScheduler,
 * in-process runner, real tfjs training) against a loopback server that
 * speaks the wire contract and lies in one way per case:
 * - asks for both shares of one peer (same id as survivor and dropped);
 * - shows different rosters to different devices (a Sybil in half the views);
 * - swaps one device's keys in the roster the others see;
 * - replays the signed configuration of an earlier round;
 * - signs with a key the devices do not trust;
 * - names global weights other than those it serves.
 * Each time every device refuses with the typed error and sends nothing
 * further (the server's request log). The honest round unmasks to the sum of
 * the devices' clipped updates, and a positive control shows that check can
 * fail: a device that skips its self mask leaves a sum that differs.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlockEvents } from '../../client/events.ts';
import { trainLocalUpdate } from '../../client/federated/local-training.ts';
import { FlockTransport } from '../../client/federated/transport.ts';
import { createMemoryStore } from '../../client/storage/memory-store.ts';
import type { ClientStore } from '../../client/storage/types.ts';
import { TrainingScheduler } from '../../client/training/round-loop.ts';
import { createSecureRoundWorker } from '../../client/training/secure-aggregation/worker-rounds.ts';
import { type TrainingRunner, inProcessTrainingRunner } from '../../client/training/training-runner.ts';
import { decodeTensors, encodeTensors } from '../../shared/codec/index.ts';
import { sha256Hex } from '../../shared/manifest/hash.ts';
import { sampleManifest } from '../../shared/manifest/sample-manifest.fixture.ts';
import { partsFromModel } from '../../shared/model/index.ts';
import { base64ToBytes } from '../../shared/manifest/bytes.ts';
import { decodeDdgSum } from '../../shared/secagg/ddg.ts';
import type { SecAggError } from '../../shared/secagg/secagg-error.ts';
import { type Lie, type LiarServer, startLiarServer, tokenOf } from './secagg-liar-server.ts';

const APP = 'liar-app';
const TASK = 'task-secure';
const IDS = ['device-a', 'device-b', 'device-c', 'device-d'];
const PLAN = {
  population: 4,
  clientsPerRound: 4,
  localEpochs: 1,
  batchSize: 64,
  learningRate: 0.5,
  clipNorm: 1,
  minExamples: 1,
};

let topologyBytes: Uint8Array;
let weightsBytes: Uint8Array;
let parts: ReturnType<typeof partsFromModel>;
let runner: TrainingRunner;
const examplesOf = new Map<string, { x: Float32Array; y: Int32Array }>();

beforeAll(async () => {
  runner = await inProcessTrainingRunner('cpu');
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax' })] });
  parts = partsFromModel(model);
  model.dispose();
  topologyBytes = new TextEncoder().encode(JSON.stringify(parts.topology));
  weightsBytes = encodeTensors(
    parts.weightSpecs.map((s, i) => ({ name: s.name, shape: s.shape, data: parts.weights[i] })),
    { encoding: 'fp32' },
  );
  IDS.forEach((id, d) => {
    const x = Float32Array.from({ length: 16 * 4 }, (_, i) => Math.sin(i * 0.7 + d));
    const y = Int32Array.from({ length: 16 }, (_, i) => (i + d) % 3);
    examplesOf.set(id, { x, y });
  });
}, 60_000);

afterAll(() => runner?.close());

/** A device store as connect() leaves it: registered, the liar's key trusted, v1 active, examples recorded. */
async function deviceStore(deviceId: string, publicKey: string): Promise<ClientStore> {
  const store = createMemoryStore();
  await store.putDevice({ app: APP, deviceId, token: tokenOf(deviceId) });
  await store.trustPublicKey(APP, publicKey);
  const hash = await sha256Hex(weightsBytes);
  const manifest = {
    ...sampleManifest(),
    app: APP,
    version: 1,
    modelTopologyHash: await sha256Hex(topologyBytes),
    inputSpec: { shape: [null, 4], dtype: 'float32' as const },
    labels: ['a', 'b', 'c'],
    variants: [
      {
        encoding: 'fp32' as const,
        totalBytes: weightsBytes.length,
        sha256: hash,
        shards: [{ hash, size: weightsBytes.length }],
      },
    ],
  };
  await store.putShard(hash, weightsBytes);
  await store.putModel({
    app: APP,
    version: 1,
    manifest,
    encoding: 'fp32',
    weightSpecs: parts.weightSpecs,
    topology: parts.topology,
    inputSpec: manifest.inputSpec,
    storedAt: Date.now(),
  });
  await store.activateVersion(APP, 1);
  const { x, y } = examplesOf.get(deviceId) as { x: Float32Array; y: Int32Array };
  for (let i = 0; i < y.length; i++) await store.addExample(APP, x.subarray(i * 4, i * 4 + 4), y[i]);
  return store;
}

interface DeviceOutcome {
  deviceId: string;
  uploaded: boolean;
  errors: Error[];
}

/** One turn of the SDK's round loop for one device, until its round finished (or failed). */
async function turn(liar: LiarServer, deviceId: string, cheat = false): Promise<DeviceOutcome> {
  const store = await deviceStore(deviceId, liar.publicKey);
  const events = new FlockEvents();
  const errors: Error[] = [];
  let looks = 0;
  const finished = new Promise<boolean>((resolve) => {
    events.on('round-finished', ({ uploaded }) => resolve(uploaded));
  });
  events.on('error', ({ error }) => errors.push(error));
  const scheduler = new TrainingScheduler({
    app: APP,
    tasks: [TASK],
    store,
    transport: new FlockTransport({ baseUrl: liar.baseUrl, token: tokenOf(deviceId), retry: { retries: 0 } }),
    device: async () => ({ deviceId, token: tokenOf(deviceId) }),
    // The positive control's cheat: a runner whose secure rounds skip the self mask.
    runner: async () =>
      cheat ? { ...runner, secure: createSecureRoundWorker({ insecureSkipSelfMask: true }), close: () => {} } : runner,
    events,
    eligibility: () => (looks++ === 0 ? { eligible: true } : { eligible: false, reason: 'one turn' }),
    runtime: 'node',
  });
  scheduler.start();
  const uploaded = await Promise.race([
    finished,
    new Promise<boolean>((_, fail) =>
      setTimeout(() => fail(new Error(`${deviceId}: no round-finished in 60 s`)), 60_000),
    ),
  ]);
  await new Promise((r) => setTimeout(r, 20)); // the loop emits 'error' right after round-finished
  await scheduler.stop();
  return { deviceId, uploaded, errors };
}

async function round(lie: Lie, cheater?: string): Promise<{ liar: LiarServer; outcomes: DeviceOutcome[] }> {
  const liar = await startLiarServer({
    lie,
    deviceIds: IDS,
    weights: weightsBytes,
    topology: topologyBytes,
    dimension: parts.weights.reduce((n, w) => n + w.length, 0),
    taskId: TASK,
    plan: PLAN,
  });
  try {
    return { liar, outcomes: await Promise.all(IDS.map((id) => turn(liar, id, id === cheater))) };
  } finally {
    await liar.close();
  }
}

const codeOf = (o: DeviceOutcome) => (o.errors[0] as SecAggError | undefined)?.code;
const reasonOf = (o: DeviceOutcome) => (o.errors[0] as SecAggError | undefined)?.details?.reason;
/** What each device sent after the lie: its requests to these routes. */
const sent = (liar: LiarServer, pattern: RegExp) => liar.log.filter((line) => pattern.test(line));

describe('secure aggregation against a lying coordinator (SDK round loop, loopback)', () => {
  it('honest: every device finishes and the unmasked sum is the sum of their clipped updates', async () => {
    const { liar, outcomes } = await round('none');
    expect(outcomes.map((o) => [o.uploaded, o.errors.map((e) => e.message)])).toEqual(IDS.map(() => [true, []]));
    expect(sent(liar, /PUT \/v1\/rounds\/[^/]+\/updates/)).toEqual([]); // no plain upload
    expect(sent(liar, /POST .*\/secagg\/unmask/)).toHaveLength(4);
    const result = liar.result();
    expect(result?.survivors).toEqual(IDS);
    const error = await sumError(liar);
    expect(error.expectedNorm).toBeGreaterThan(0.05);
    expect(error.l2).toBeLessThan(4 * liar.ddgPlan.granularity * Math.sqrt(liar.ddgPlan.paddedDimension));
  }, 120_000);

  it('positive control: a device that skips its self mask leaves a sum far from the clipped updates', async () => {
    const { liar, outcomes } = await round('none', 'device-b');
    expect(outcomes.every((o) => o.uploaded && o.errors.length === 0)).toBe(true);
    const error = await sumError(liar);
    expect(error.l2).toBeGreaterThan(100 * liar.ddgPlan.granularity * Math.sqrt(liar.ddgPlan.paddedDimension));
  }, 120_000);

  it('both shares of one peer asked for: every device refuses and reveals no share', async () => {
    const { liar, outcomes } = await round('both-shares');
    expect(outcomes.map(codeOf)).toEqual(IDS.map(() => 'both-shares-requested'));
    expect(outcomes.every((o) => !o.uploaded)).toBe(true);
    expect(sent(liar, /PUT .*\/secagg\/masked/)).toHaveLength(4);
    expect(sent(liar, /POST .*\/secagg\/unmask/)).toEqual([]);
  }, 120_000);

  it.each([
    ['split view (a Sybil in half the rosters)', 'split-view'],
    ["one device's keys swapped in the others' roster", 'swap-keys'],
  ] as const)(
    '%s: no device can open the shares, none masks',
    async (_label, lie) => {
      const { liar, outcomes } = await round(lie);
      expect(outcomes.map(codeOf)).toEqual(IDS.map(() => 'decrypt-failed'));
      expect(sent(liar, /POST .*\/secagg\/shares/)).toHaveLength(4);
      expect(sent(liar, /PUT .*\/secagg\/masked|POST .*\/secagg\/unmask|\/updates/)).toEqual([]);
    },
    120_000,
  );

  it.each([
    ["an earlier round's signed configuration (replay)", 'replay', 'round'],
    ['a configuration signed by another key', 'other-key', 'signature'],
    ['a configuration naming other global weights', 'weights', 'weights'],
  ] as const)(
    '%s: refused before anything is sent',
    async (_label, lie, reason) => {
      const { liar, outcomes } = await round(lie);
      expect(outcomes.map(codeOf)).toEqual(IDS.map(() => 'bad-round-config'));
      expect(outcomes.map(reasonOf)).toEqual(IDS.map(() => reason));
      expect(sent(liar, /\/secagg\/|\/updates/)).toEqual([]);
      for (const id of IDS) expect(sent(liar, new RegExp(`^${id} POST .*/checkin$`))).toHaveLength(1);
    },
    120_000,
  );
});

/**
 * L2 distance between the decoded unmasked sum and the sum of the devices'
 * clipped deltas, recomputed here from the same job (one full batch, one
 * epoch: deterministic up to float summation order).
 */
async function sumError(liar: LiarServer): Promise<{ l2: number; expectedNorm: number }> {
  const result = liar.result();
  if (!result) throw new Error('the round has no result');
  const rotationSeed = base64ToBytes(liar.config.rotationSeed) as Uint8Array;
  const total = await decodeDdgSum(result.sum, liar.ddgPlan, { rotationSeed, roundId: liar.config.roundId });
  const expected = new Float64Array(total.length);
  for (const id of result.survivors) {
    const { x, y } = examplesOf.get(id) as { x: Float32Array; y: Int32Array };
    const update = await trainLocalUpdate({
      topology: parts.topology,
      weightSpecs: parts.weightSpecs,
      globalWeights: parts.weights.map((w) => w.slice()),
      examples: { x, y, count: y.length, inputShape: [4] },
      plan: { ...PLAN, updateEncoding: { encoding: 'fp32' } },
    });
    let offset = 0;
    for (const t of decodeTensors(update.bytes)) for (const v of t.data) expected[offset++] += v;
  }
  let sq = 0;
  let norm = 0;
  for (let i = 0; i < total.length; i++) {
    sq += (total[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return { l2: Math.sqrt(sq), expectedNorm: Math.sqrt(norm) };
}
