/**
 * One device's turn in a federated task: check in, fetch the round's global
 * weights and the model topology, train locally, upload the update directly
 * (no outbox). Returns either a receipt or when to come back.
 *
 * Only Node integration tests use it (test/integration/federated-mnist,
 * output-kinds), driving devices with in-memory examples. The SDK and the
 * service worker run a device's round through `TrainingScheduler`
 * (client/training/round-loop.ts: examples from the store, the training
 * worker, the outbox); the simulator has its own loop. Issue 11 asks for one
 * path: move these tests onto the scheduler, then delete this file.
 */
import * as tf from '@tensorflow/tfjs';
import { decodeTensors, type ErrorFeedback } from '../../shared/codec/index.ts';
import { verifyManifest } from '../../shared/manifest/index.ts';
import type { ModelTopology, WeightSpec } from '../../shared/model/index.ts';
import type { RetryReason, Runtime, UpdateMeta, UpdateReceipt } from '../../shared/protocol/index.ts';
import { trainLocalUpdate, type LocalUpdate, type TrainingExamples } from './local-training.ts';
import type { FlockTransport } from './transport.ts';
import { FlockHttpError } from './transport-error.ts';

/**
 * What a participant keeps between rounds: the manifest ETag and topology
 * hash per app, and topologies by hash (immutable, so never stale).
 */
export interface ParticipantCache {
  manifests: Map<string, { etag: string; topologyHash: string }>;
  topologies: Map<string, ModelTopology>;
}

/** A fresh, empty cache; keep one per device. */
export function createParticipantCache(): ParticipantCache {
  return { manifests: new Map(), topologies: new Map() };
}

export interface ParticipateInput {
  transport: FlockTransport;
  deviceId: string;
  /** The app the device registered for; its manifest names the model topology. */
  app: string;
  taskId: string;
  examples: TrainingExamples;
  /** Reuse across rounds to skip re-downloading the topology (default: a fresh one). */
  cache?: ParticipantCache;
  /** Keep one per device and task for top-k / int8 with error feedback. */
  errorFeedback?: ErrorFeedback;
  /** The pinned manifest key (base64 raw Ed25519 or a CryptoKey); when given, the manifest's signature is checked. */
  publicKey?: string | CryptoKey;
  runtime?: Runtime;
}

/** Why a participant should come back later. */
export type ParticipationRetryReason = RetryReason | 'round_closed' | 'late_upload';

export type ParticipationResult =
  | {
      status: 'uploaded';
      receipt: UpdateReceipt;
      roundId: string;
      roundNumber: number /** The global version trained from. */;
      version: number;
      update: Omit<LocalUpdate, 'bytes'>;
    }
  | { status: 'retry'; retryAfterSeconds: number; reason: ParticipationRetryReason };

/** After a round closed under us, the next one opens at once: ask again soon. */
const RETRY_AFTER_CLOSED_ROUND_SECONDS = 5;

const utf8 = new TextDecoder();

async function topologyFor(input: ParticipateInput, cache: ParticipantCache): Promise<ModelTopology> {
  const known = cache.manifests.get(input.app);
  const answer = await input.transport.getManifest(input.app, known ? { etag: known.etag } : {});
  let hash: string;
  if (answer.status === 'not_modified' && known) {
    hash = known.topologyHash;
  } else if (answer.status === 'modified') {
    const manifest = input.publicKey
      ? await verifyManifest(answer.signedManifest, input.publicKey, { app: input.app })
      : answer.signedManifest.manifest;
    hash = manifest.modelTopologyHash;
    if (answer.etag) cache.manifests.set(input.app, { etag: answer.etag, topologyHash: hash });
  } else {
    throw new FlockHttpError(
      304,
      'bad_response',
      `GET /v1/apps/${input.app}/manifest answered 304 to a request without If-None-Match`,
    );
  }
  const cached = cache.topologies.get(hash);
  if (cached) return cached;
  // getBlob verified the hash, so these are exactly the bytes the manifest names.
  const parsed: unknown = JSON.parse(utf8.decode(await input.transport.getBlob(hash)));
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new FlockHttpError(200, 'bad_response', `topology blob ${hash} is not a JSON object`);
  }
  // The registry may file its own hash inside the topology; tfjs must not see it.
  const { topologyHash: _ignored, ...topology } = parsed as ModelTopology;
  cache.topologies.set(hash, topology);
  return topology;
}

function finiteOrUndefined(value: number, bounds?: [number, number]): number | undefined {
  if (!Number.isFinite(value)) return undefined;
  return bounds ? Math.min(bounds[1], Math.max(bounds[0], value)) : value;
}

/**
 * Checks in once and, when selected, trains and uploads.
 *
 * @example
 * const cache = createParticipantCache();
 * const r = await participateOnce({ transport, deviceId, app: 'digits', taskId, examples, cache });
 * if (r.status === 'retry') setTimeout(again, r.retryAfterSeconds * 1000);
 */
export async function participateOnce(input: ParticipateInput): Promise<ParticipationResult> {
  const { transport, deviceId, taskId, examples } = input;
  const answer = await transport.checkIn(taskId, {
    deviceId,
    taskId,
    numExamples: examples.count,
    backend: tf.getBackend(),
    ...(input.runtime ? { runtime: input.runtime } : {}),
  });
  if (answer.status === 'retry')
    return { status: 'retry', retryAfterSeconds: answer.retryAfterSeconds, reason: answer.reason };

  const cache = input.cache ?? createParticipantCache();
  const topology = await topologyFor(input, cache);
  // The round's weights name and shape every tensor: they are the weight specs.
  const tensors = decodeTensors(await transport.getBlob(answer.globalWeights.hash));
  const weightSpecs: WeightSpec[] = tensors.map((t) => ({ name: t.name, shape: t.shape }));
  const update = await trainLocalUpdate({
    topology,
    weightSpecs,
    globalWeights: tensors.map((t) => t.data),
    examples,
    plan: answer.plan,
    errorFeedback: input.errorFeedback,
  });

  const meta: UpdateMeta = {
    roundId: answer.roundId,
    deviceId,
    numExamples: update.numExamples,
    preClipNorm: update.preClipNorm,
    trainLoss: finiteOrUndefined(update.trainLoss),
    trainAccuracy: finiteOrUndefined(update.trainAccuracy, [0, 1]),
    epochs: update.epochs,
    encoding: update.encoding,
    backend: update.backend,
    durationMs: update.durationMs,
  };
  try {
    const receipt = await transport.uploadUpdate(answer.roundId, update.bytes, meta);
    const { bytes: _sent, ...summary } = update;
    return {
      status: 'uploaded',
      receipt,
      roundId: answer.roundId,
      roundNumber: answer.roundNumber,
      version: answer.globalVersion,
      update: summary,
    };
  } catch (error) {
    // The round moved on while we trained: the work is lost, the device is not at fault.
    if (error instanceof FlockHttpError && (error.code === 'round_closed' || error.code === 'late_upload')) {
      return { status: 'retry', retryAfterSeconds: RETRY_AFTER_CLOSED_ROUND_SECONDS, reason: error.code };
    }
    throw error;
  }
}
