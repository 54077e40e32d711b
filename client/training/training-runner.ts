/**
 * Where local training runs: a dedicated Worker (comlink, transferred
 * buffers) in browsers, so the page's main thread never runs a training step,
 * or in-process in Node (simulations, tests).
 *
 * The script-tag bundle starts itself as a classic worker: `flock.min.js`
 * contains the training worker, which exposes its API only when it finds
 * itself in a WorkerGlobalScope, so one file serves both sides and nothing is
 * fetched from elsewhere. ESM users pass `createWorker` (e.g.
 * `import FlockTrainingWorker from 'flock-ml/worker?worker'` in Vite, then `createWorker: () => new FlockTrainingWorker()`).
 */
import * as Comlink from 'comlink';
import type { LocalUpdate } from '../federated/local-training.ts';
import type { BackendName } from '../backends/select.ts';
import { getAssetBase } from '../tfjs-backends.ts';
import type { SecureRoundWorkerApi } from './secure-aggregation/worker-rounds.ts';
import { trainingTransferables, trainingWorkerApi, type TrainingJob, type TrainingWorkerApi } from './training-api.ts';

export type { TrainingJob };

// document.currentScript is only set while the bundle's <script> first runs, so capture it at load.
const bundleUrl: string | null =
  typeof document === 'undefined' ? null : (document.currentScript as HTMLScriptElement | null)?.src || null;

/**
 * A classic Worker running the script-tag bundle. A Worker script must be
 * same-origin, so a page that loads flock.min.js from the coordinator (or a
 * CDN) gets a same-origin Blob that imports it (the coordinator sends the SDK
 * with `Cross-Origin-Resource-Policy: cross-origin`, so this also holds under COEP).
 */
function workerFromBundle(url: string): Worker {
  if (new URL(url, location.href).origin === location.origin) return new Worker(url);
  const shim = URL.createObjectURL(new Blob([`importScripts(${JSON.stringify(url)});`], { type: 'text/javascript' }));
  try {
    return new Worker(shim);
  } finally {
    // The worker has fetched its script once constructed; the Blob URL is not needed after.
    setTimeout(() => URL.revokeObjectURL(shim), 60_000);
  }
}

/** Something that trains local updates; `backend` is where training really runs. */
export interface TrainingRunner {
  readonly backend: string;
  /** Flock's own gradient kernels registered there (e.g. Conv2DBackpropFilter on wasm). */
  readonly flockKernels: string[];
  /** Train one update for `taskId`. The job's buffers are transferred (unusable afterwards). */
  train(taskId: string, job: TrainingJob): Promise<LocalUpdate>;
  /**
   * The phases of a secure-aggregation round, run where training runs (the
   * update never leaves it unmasked). A runner without it cannot join such rounds.
   */
  readonly secure?: SecureRoundWorkerApi;
  close(): void;
}

export interface TrainingWorkerOptions {
  /** Backend to train on; when it cannot start in the worker, wasm and then cpu are tried. */
  backend: BackendName;
  /** Folder of the tfjs wasm files (default: the SDK's asset base). */
  assetsUrl?: string;
  /** Make the Worker yourself (ESM builds); default: the script-tag bundle started as a worker. */
  createWorker?: () => Worker;
  /** Longest a single training job may take before the worker is stopped (default 10 min). */
  timeoutMs?: number;
}

function fallbacks(backend: BackendName): BackendName[] {
  return [...new Set<BackendName>([backend, 'wasm', 'cpu'])];
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(
        new Error(
          `${what} took longer than ${ms} ms; the training worker was stopped (raise train.timeoutMs for big models)`,
        ),
      );
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The worker's secure-round methods, each under a timeout (training under the training one). */
function secureOverWorker(
  api: Comlink.Remote<TrainingWorkerApi>,
  timeoutMs: number,
  stop: () => void,
): SecureRoundWorkerApi {
  const phaseMs = Math.min(timeoutMs, 120_000);
  return {
    secaggTrain: (key, config, job) =>
      withTimeout(
        api.secaggTrain(key, config, Comlink.transfer(job, trainingTransferables(job))),
        timeoutMs,
        `training for secure round ${key.roundId}`,
        stop,
      ),
    secaggAdvertise: (key) => withTimeout(api.secaggAdvertise(key), phaseMs, 'advertising keys', stop),
    secaggShare: (key, roster) => withTimeout(api.secaggShare(key, roster), phaseMs, 'sharing keys', stop),
    secaggMask: (key, forwarded) => withTimeout(api.secaggMask(key, forwarded), phaseMs, 'masking the update', stop),
    secaggUnmask: (key, request) => withTimeout(api.secaggUnmask(key, request), phaseMs, 'unmasking', stop),
    secaggForget: (key) => withTimeout(api.secaggForget(key), phaseMs, 'forgetting a secure round', stop),
  };
}

/**
 * Start the training worker and initialize its backend.
 * @throws Error when no worker can be made (no bundle URL and no `createWorker`) or no backend starts
 *
 * @example
 * const runner = await startTrainingWorker({ backend: 'wasm' });
 * const update = await runner.train('task_1', job); // runner.backend === 'wasm', flockKernels ['Conv2DBackpropFilter']
 */
export async function startTrainingWorker(options: TrainingWorkerOptions): Promise<TrainingRunner> {
  let worker: Worker;
  if (options.createWorker) worker = options.createWorker();
  else if (bundleUrl) worker = workerFromBundle(bundleUrl);
  else
    throw new Error(
      'cannot start the training worker: load flock.min.js with a <script> tag, or pass train.createWorker (an ESM build makes the worker from flock-ml/worker, e.g. Vite: import W from "flock-ml/worker?worker")',
    );
  const api = Comlink.wrap<TrainingWorkerApi>(worker);
  const timeoutMs = options.timeoutMs ?? 600_000;
  const stop = () => {
    api[Comlink.releaseProxy]();
    worker.terminate();
  };
  const assetsUrl = options.assetsUrl ?? getAssetBase() ?? undefined;
  const failures: string[] = [];
  for (const backend of fallbacks(options.backend)) {
    try {
      const ready = await withTimeout(
        api.init({ backend, assetsUrl }),
        60_000,
        `starting the '${backend}' backend in the training worker`,
        () => {},
      );
      return {
        backend: ready.backend,
        flockKernels: ready.flockKernels,
        train: (taskId, job) =>
          withTimeout(
            api.train(taskId, Comlink.transfer(job, trainingTransferables(job))),
            timeoutMs,
            `training for task ${taskId}`,
            stop,
          ),
        secure: secureOverWorker(api, timeoutMs, stop),
        close: stop,
      };
    } catch (error) {
      failures.push(`${backend}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  stop();
  throw new Error(`no tfjs backend could start in the training worker (${failures.join('; ')})`);
}

/**
 * Train in this thread: for Node clients and simulations, where there is no page to keep responsive.
 *
 * @example
 * const runner = await inProcessTrainingRunner('cpu');
 */
export async function inProcessTrainingRunner(backend: BackendName, assetsUrl?: string): Promise<TrainingRunner> {
  const ready = await trainingWorkerApi.init({ backend, assetsUrl });
  return {
    backend: ready.backend,
    flockKernels: ready.flockKernels,
    train: (taskId, job) => trainingWorkerApi.train(taskId, job),
    secure: trainingWorkerApi,
    close: () => {},
  };
}
