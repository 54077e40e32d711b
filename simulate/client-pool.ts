/**
 * Where simulated devices train: a `TrainingRunner` per device, as the SDK's
 * round loop takes one, backed by the SDK's own training-worker API
 * (`trainingWorkerApi`, what a browser's training worker exposes) on 0..K
 * Node worker threads. A job arrives from the round loop with its examples
 * and the round's weights as buffers, is transferred to a thread, and the
 * encoded update comes back transferred.
 *
 * Error feedback (lossy encodings) lives with the training API, keyed per
 * task; a simulated device keys its jobs `device <n> / <task>` so residuals
 * never mix between devices, and always trains on the same thread (where its
 * residual is). fp32 jobs go to the least busy thread. The calling thread
 * is put on wasm as well (it evaluates the global model).
 *
 * Secure-aggregation rounds run their phases where the device trained, as in
 * a browser's training worker: the thread keeps the update and the round's
 * secrets between calls, so every phase call of a device goes to its own
 * thread (`client % workers`), and only the phase messages cross.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LocalUpdate } from '../client/federated/index.ts';
import { trainingTransferables, trainingWorkerApi, type TrainingJob } from '../client/training/training-api.ts';
import type { TrainingRunner } from '../client/training/training-runner.ts';
import type { SecureRoundWorkerApi } from '../client/training/secure-aggregation/worker-rounds.ts';
import { SecAggError, type SecAggErrorCode } from '../shared/secagg/secagg-error.ts';
import { useTrainingBackend } from './tfjs-node-backend.ts';

/** A phase method of the secure-round API, by name. */
export type SecureMethod = keyof SecureRoundWorkerApi;

export type PoolRequest =
  | { type: 'init' }
  | { type: 'job'; id: number; key: string; job: TrainingJob }
  | { type: 'secure'; id: number; method: SecureMethod; args: unknown[] };
export type PoolReply =
  | { type: 'ready'; backend: string; flockKernels: string[] }
  | { type: 'done'; id: number; update: LocalUpdate }
  | { type: 'secure-done'; id: number; value: unknown }
  | { type: 'failed'; id: number; message: string; code?: string };

export interface ClientPool {
  /** The runner simulated device `client` hands to the round loop. */
  runnerFor(client: number): TrainingRunner;
  readonly workers: number;
  /** Where training runs ('wasm' here), as the runners report it. */
  readonly backend: string;
  close(): Promise<void>;
}

/** The error-feedback key of one device's task (see the module comment). */
export const jobKey = (client: number, taskId: string) => `device ${client} / ${taskId}`;

// Workers do not inherit tsx's loader when started from vitest or a plain
// import, so the entry is a tiny ESM module that registers tsx first.
// The built package (dist/lib, JavaScript) needs no loader.
function workerBootstrap(): URL {
  if (import.meta.url.endsWith('.js')) return new URL('./training-worker.js', import.meta.url);
  const tsxDir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxDir, 'dist/esm/api/index.mjs')).href;
  const entry = new URL('./training-worker.ts', import.meta.url).href;
  const code = `import { register } from ${JSON.stringify(api)}; register(); await import(${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

interface Slot {
  worker: Worker;
  busy: number;
}

const lossy = (job: TrainingJob) => job.plan.updateEncoding.encoding !== 'fp32';

async function inProcessPool(): Promise<ClientPool> {
  const { backend, flockKernels } = await useTrainingBackend();
  return {
    workers: 0,
    backend,
    runnerFor: (client) => ({
      backend,
      flockKernels,
      train: (taskId, job) => trainingWorkerApi.train(jobKey(client, taskId), job),
      // Sessions are keyed by (round, device), so every device can share this thread's.
      secure: trainingWorkerApi,
      close: () => {},
    }),
    close: async () => undefined,
  };
}

/** A worker's refusal as an Error; a secure-round refusal keeps its SecAggError code. */
function workerFailure(reply: Extract<PoolReply, { type: 'failed' }>): Error {
  if (reply.code !== undefined) return new SecAggError(reply.code as SecAggErrorCode, reply.message);
  return new Error(`client training failed in a worker: ${reply.message}`);
}

/**
 * @example
 * const pool = await createClientPool(2);
 * const runner = pool.runnerFor(7); // hand it to runBackgroundRound({ runner: async () => runner, ... })
 * await pool.close();
 */
export async function createClientPool(workers: number): Promise<ClientPool> {
  // This thread too: importing the training API registers tfjs's wasm backend at top priority, so
  // the simulator's own evaluation must find it started.
  const inProcess = await inProcessPool();
  if (workers === 0) return inProcess;
  const pending = new Map<number, { resolve: (u: never) => void; reject: (e: Error) => void; slot: Slot }>();
  const slots: Slot[] = [];
  let nextId = 0;
  const url = workerBootstrap();
  const ready = await Promise.all(
    Array.from({ length: workers }, () => {
      const worker = new Worker(url);
      const slot: Slot = { worker, busy: 0 };
      slots.push(slot);
      return new Promise<{ backend: string; flockKernels: string[] }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('a training worker did not start within 60 s')), 60_000);
        worker.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
          for (const [id, p] of pending) if (p.slot === slot) pending.delete(id), p.reject(error);
        });
        worker.on('message', (reply: PoolReply) => {
          if (reply.type === 'ready') return (clearTimeout(timer), resolve(reply));
          const p = pending.get(reply.id);
          if (!p) return;
          pending.delete(reply.id);
          p.slot.busy--;
          if (reply.type === 'done') p.resolve(reply.update as never);
          else if (reply.type === 'secure-done') p.resolve(reply.value as never);
          else p.reject(workerFailure(reply));
        });
        worker.postMessage({ type: 'init' } satisfies PoolRequest);
      });
    }),
  );
  const { backend, flockKernels } = ready[0];
  const train = (client: number, taskId: string, job: TrainingJob) => {
    const slot = lossy(job) ? slots[client % slots.length] : slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    const id = nextId++;
    return new Promise<LocalUpdate>((resolve, reject) => {
      pending.set(id, { resolve, reject, slot });
      const request: PoolRequest = { type: 'job', id, key: jobKey(client, taskId), job };
      slot.worker.postMessage(request, trainingTransferables(job));
    });
  };
  const call = <T>(slot: Slot, request: PoolRequest & { id: number }, transfer: ArrayBuffer[]) => {
    slot.busy++;
    return new Promise<T>((resolve, reject) => {
      pending.set(request.id, { resolve: resolve as (u: never) => void, reject, slot });
      slot.worker.postMessage(request, transfer);
    });
  };
  const secureFor = (client: number): SecureRoundWorkerApi => {
    const slot = slots[client % slots.length];
    const phase =
      (method: SecureMethod) =>
      (...args: unknown[]) => {
        const transfer = method === 'secaggTrain' ? trainingTransferables(args[2] as TrainingJob) : [];
        return call(slot, { type: 'secure', id: nextId++, method, args }, transfer);
      };
    return {
      secaggTrain: phase('secaggTrain'),
      secaggAdvertise: phase('secaggAdvertise'),
      secaggShare: phase('secaggShare'),
      secaggMask: phase('secaggMask'),
      secaggUnmask: phase('secaggUnmask'),
      secaggForget: phase('secaggForget'),
    } as SecureRoundWorkerApi;
  };
  return {
    workers,
    backend,
    runnerFor: (client) => ({
      backend,
      flockKernels,
      train: (taskId, job) => train(client, taskId, job),
      secure: secureFor(client),
      close: () => {},
    }),
    async close() {
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
