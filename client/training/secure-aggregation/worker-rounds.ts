/**
 * The training worker's side of secure-aggregation rounds: it trains the
 * update and keeps it, with the round's SecAggDevice and its secrets, so the
 * page never holds the unmasked vector. The page drives the phases
 * (secure-round.ts) and only moves the messages: each method takes what the
 * coordinator sent and answers what to send back.
 *
 * The update is encoded with the distributed discrete Gaussian
 * (encodeDdg: clip, rotate, round, noise, wrap) at masking time, under the
 * plan the worker derives itself from the signed configuration (planOfConfig).
 * State is per (round, device), so several devices can share one
 * in-process runner (Node tests, the simulator); any refusal forgets it.
 */
import { decodeTensors } from '../../../shared/codec/index.ts';
import { base64ToBytes } from '../../../shared/manifest/bytes.ts';
import type { SecAggRoundConfig } from '../../../shared/protocol/index.ts';
import { type DdgPlan, encodeDdg } from '../../../shared/secagg/ddg.ts';
import { SecAggDevice } from '../../../shared/secagg/device.ts';
import type { AdvertiseKeys, MaskedInput, ShareKeys, UnmaskResponse } from '../../../shared/secagg/messages.ts';
import { SecAggError } from '../../../shared/secagg/secagg-error.ts';
import { type LocalUpdate, trainLocalUpdate } from '../../federated/local-training.ts';
import type { TrainingJob } from '../training-api.ts';
import { planOfConfig } from './round-config-check.ts';

/** Identifies one device's part in one round. */
export interface SecureRoundKey {
  roundId: string;
  deviceId: string;
}

/** What training reports for a secure round: the update's metadata, never its values. */
export type SecureTrainingSummary = Omit<LocalUpdate, 'bytes'> & { dimension: number };

interface Session {
  config: SecAggRoundConfig;
  plan: DdgPlan;
  delta: Float32Array | null;
  device: SecAggDevice | null;
}

/** The worker-side API (also the in-process one): one method per phase. */
export interface SecureRoundWorkerApi {
  /** Train for the round and keep the clipped delta; refuses a configuration whose dimension is not the update's. */
  secaggTrain(key: SecureRoundKey, config: SecAggRoundConfig, job: TrainingJob): Promise<SecureTrainingSummary>;
  /** Phase 1: fresh X25519 keys, under the signed terms. */
  secaggAdvertise(key: SecureRoundKey): Promise<AdvertiseKeys>;
  /** Phase 2: check the roster against the signed terms, seal the shares. */
  secaggShare(key: SecureRoundKey, roster: unknown): Promise<ShareKeys>;
  /** Phase 3: encode (DDG) and mask the kept update; the delta is forgotten. */
  secaggMask(key: SecureRoundKey, forwarded: unknown): Promise<{ header: MaskedInput; masked: Uint32Array }>;
  /** Phase 4: one share per peer, never both; the round is forgotten. */
  secaggUnmask(key: SecureRoundKey, request: unknown): Promise<UnmaskResponse>;
  /** Drop whatever the worker holds for the round (abort, deadline, refusal). */
  secaggForget(key: SecureRoundKey): Promise<void>;
}

const sessionKey = (k: SecureRoundKey) => `${k.roundId}\u0000${k.deviceId}`;

function flatten(bytes: Uint8Array): Float32Array {
  const tensors = decodeTensors(bytes);
  const out = new Float32Array(tensors.reduce((n, t) => n + t.data.length, 0));
  let offset = 0;
  for (const t of tensors) {
    out.set(t.data, offset);
    offset += t.data.length;
  }
  return out;
}

function deviceOf(s: Session, key: SecureRoundKey): SecAggDevice {
  if (!s.device)
    throw new SecAggError('wrong-phase', `${key.deviceId} has not advertised keys for round ${key.roundId} yet`);
  return s.device;
}

/**
 * Secure-round sessions of one worker (or one process). `testOnly.insecureSkipSelfMask`
 * is a positive control for tests (the sum comes out wrong); the SDK never sets it.
 *
 * @example
 * const rounds = createSecureRoundWorker();
 * await rounds.secaggTrain({ roundId, deviceId }, config, job);
 * const keys = await rounds.secaggAdvertise({ roundId, deviceId });
 */
export function createSecureRoundWorker(testOnly: { insecureSkipSelfMask?: boolean } = {}): SecureRoundWorkerApi {
  const sessions = new Map<string, Session>();
  const session = (key: SecureRoundKey): Session => {
    const s = sessions.get(sessionKey(key));
    if (!s)
      throw new SecAggError(
        'wrong-phase',
        `the training worker holds no secure round ${key.roundId} for ${key.deviceId} (never trained, already finished or refused)`,
      );
    return s;
  };
  /** Runs a phase; any failure forgets the round, so nothing of it outlives a refusal. */
  const phase = async <T>(key: SecureRoundKey, step: (s: Session) => Promise<T>): Promise<T> => {
    try {
      return await step(session(key));
    } catch (error) {
      sessions.delete(sessionKey(key));
      throw error;
    }
  };
  return {
    async secaggTrain(key, config, job) {
      sessions.delete(sessionKey(key));
      // fp32: the update goes through the DDG encoder, not the plan's lossy codec (secure tasks refuse those anyway).
      const update = await trainLocalUpdate({ ...job, plan: { ...job.plan, updateEncoding: { encoding: 'fp32' } } });
      const delta = flatten(update.bytes);
      const plan = planOfConfig(config, delta.length);
      sessions.set(sessionKey(key), { config, plan, delta, device: null });
      const { bytes: _values, ...summary } = update;
      return { ...summary, dimension: delta.length };
    },
    secaggAdvertise: (key) =>
      phase(key, async (s) => {
        const { ddg, graph } = s.config;
        s.device = await SecAggDevice.create(key.roundId, key.deviceId, {
          minimumColluders: graph.colluders,
          vectorLength: s.config.vectorLength,
          minimumDevices: ddg.minSurvivors,
          maximumDevices: ddg.maxDevices,
          minimumSurvivors: ddg.minSurvivors,
          ...(graph.neighbours !== undefined ? { neighbours: graph.neighbours } : {}),
          ...(graph.threshold !== undefined ? { threshold: graph.threshold } : {}),
          ...(testOnly.insecureSkipSelfMask ? { insecureSkipSelfMask: true } : {}),
        });
        return s.device.advertisement();
      }),
    secaggShare: (key, roster) => phase(key, (s) => deviceOf(s, key).shareKeys(roster)),
    secaggMask: (key, forwarded) =>
      phase(key, async (s) => {
        deviceOf(s, key);
        const rotationSeed = base64ToBytes(s.config.rotationSeed) as Uint8Array;
        const input = await encodeDdg(s.delta as Float32Array, s.plan, { rotationSeed, roundId: key.roundId });
        s.delta = null;
        return deviceOf(s, key).maskInput(forwarded, input);
      }),
    secaggUnmask: (key, request) =>
      phase(key, async (s) => {
        const response = deviceOf(s, key).unmask(request);
        sessions.delete(sessionKey(key));
        return response;
      }),
    async secaggForget(key) {
      sessions.delete(sessionKey(key));
    },
  };
}
