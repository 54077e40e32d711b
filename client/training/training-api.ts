/**
 * The training worker's contract: the API a dedicated Worker exposes with
 * comlink, and the plain object that implements it. Weights and examples
 * arrive as transferred buffers (zero copy) and the encoded update goes back
 * the same way. For secure-aggregation rounds it also keeps the trained update
 * and the round's secrets (secure-aggregation/worker-rounds.ts): the page
 * only carries the phase messages.
 *
 * On the wasm backend it registers Flock's missing gradient kernels first
 * (tfjs-backend-wasm has no Conv2DBackpropFilter), so a CNN trains where the
 * page infers. Error feedback for lossy update encodings lives here, one per
 * task, because a class instance does not survive structured cloning.
 *
 * `worker/training-worker.ts` is the entry point that exposes it; the
 * script-tag bundle exposes it too, when it finds itself in a worker.
 *
 * @example
 * // window side
 * const api = Comlink.wrap<TrainingWorkerApi>(new Worker(url, { type: 'module' }));
 * await api.init({ backend: 'wasm', assetsUrl: '/flock/' });
 * const update = await api.train('task_1', Comlink.transfer(input, trainingTransferables(input)));
 */
import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs';
import { ErrorFeedback } from '../../shared/codec/index.ts';
import { registerWasmTrainingKernels } from '../backends/wasm-training-kernels/index.ts';
import type { BackendName } from '../backends/select.ts';
import { trainLocalUpdate, type LocalTrainingInput, type LocalUpdate } from '../federated/local-training.ts';
import { activateBackend, setAssetBase } from '../tfjs-backends.ts';
import { createSecureRoundWorker, type SecureRoundWorkerApi } from './secure-aggregation/worker-rounds.ts';

/** A training job as it crosses the worker boundary (no error-feedback object). */
export type TrainingJob = Omit<LocalTrainingInput, 'errorFeedback'>;

export interface TrainingWorkerApi extends SecureRoundWorkerApi {
  /** Switch to `backend` (registering wasm gradient kernels there); answers the backend that trains. */
  init(options: { backend: BackendName; assetsUrl?: string }): Promise<{ backend: string; flockKernels: string[] }>;
  /** Train one local update for `taskId`; the update's bytes are transferred back. */
  train(taskId: string, job: TrainingJob): Promise<LocalUpdate>;
}

/**
 * The buffers of a job to transfer instead of copy. Distinct buffers only:
 * listing one twice makes postMessage throw.
 *
 * @example
 * await api.train(taskId, Comlink.transfer(job, trainingTransferables(job)));
 */
export function trainingTransferables(job: TrainingJob): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const view of [...job.globalWeights, job.examples.x, job.examples.y]) {
    if (view.buffer instanceof ArrayBuffer) buffers.add(view.buffer);
  }
  return [...buffers];
}

const feedbackByTask = new Map<string, ErrorFeedback>();
const secureRounds = createSecureRoundWorker();

/** The worker's API as a plain object (so Node tests can call it without a worker). */
export const trainingWorkerApi: TrainingWorkerApi = {
  async init({ backend, assetsUrl }) {
    if (assetsUrl) setAssetBase(assetsUrl);
    await activateBackend(backend);
    // Registered before the first fit: tfjs looks kernels up at run time.
    const kernels = backend === 'wasm' ? registerWasmTrainingKernels() : { registered: [], alreadyPresent: [] };
    return { backend: tf.getBackend(), flockKernels: [...kernels.registered, ...kernels.alreadyPresent] };
  },
  async train(taskId, job) {
    const lossy = job.plan.updateEncoding.encoding !== 'fp32';
    let errorFeedback = feedbackByTask.get(taskId);
    if (lossy && errorFeedback === undefined) feedbackByTask.set(taskId, (errorFeedback = new ErrorFeedback()));
    const update = await trainLocalUpdate({ ...job, errorFeedback: lossy ? errorFeedback : undefined });
    return Comlink.transfer(update, update.bytes.buffer instanceof ArrayBuffer ? [update.bytes.buffer] : []);
  },
  // Secure aggregation: the worker keeps the update and the round's secrets; the page moves messages only.
  ...secureRounds,
  async secaggMask(key, forwarded) {
    const out = await secureRounds.secaggMask(key, forwarded);
    return Comlink.transfer(out, out.masked.buffer instanceof ArrayBuffer ? [out.masked.buffer] : []);
  },
};

/** True inside a WorkerGlobalScope (dedicated worker), false on a page or in Node. */
export function inWorkerScope(): boolean {
  // Dedicated workers only: a service worker that imports the SDK (importScripts) has no postMessage to answer on.
  return typeof (globalThis as { DedicatedWorkerGlobalScope?: unknown }).DedicatedWorkerGlobalScope !== 'undefined';
}

/**
 * Expose {@link trainingWorkerApi} over comlink when running in a worker; a
 * no-op elsewhere, so importing a module that calls it has no side effect.
 */
export function exposeTrainingWorker(): void {
  if (inWorkerScope()) Comlink.expose(trainingWorkerApi);
}
