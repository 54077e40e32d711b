/**
 * Runs simulated clients' local training on 0..K worker threads. The
 * training set lives once in a SharedArrayBuffer that every worker reads;
 * a job carries only indices, the plan and the global weights. With
 * error feedback, a client always trains on the same worker (its residual
 * lives there); otherwise jobs go to the least busy worker.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LocalUpdate } from '../client/federated/index.ts';
import { createJobRunner, type SharedDataset, type TrainingJob } from './training-job.ts';
import { useTrainingBackend } from './tfjs-node-backend.ts';

export type PoolRequest = { type: 'init'; dataset: SharedDataset } | { type: 'job'; id: number; job: TrainingJob };
export type PoolReply =
  | { type: 'ready' }
  | { type: 'done'; id: number; update: LocalUpdate }
  | { type: 'failed'; id: number; message: string };

export interface ClientPool {
  train(job: TrainingJob): Promise<LocalUpdate>;
  readonly workers: number;
  close(): Promise<void>;
}

/** Copies a dataset into SharedArrayBuffers, so workers read it without copies. */
export function shareDataset(dataset: SharedDataset): SharedDataset {
  const images = new Float32Array(new SharedArrayBuffer(dataset.images.byteLength));
  images.set(dataset.images);
  const labels = new Uint8Array(new SharedArrayBuffer(dataset.labels.byteLength));
  labels.set(dataset.labels);
  return { images, labels, inputShape: dataset.inputShape };
}

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

/**
 * @example
 * const pool = await createClientPool(dataset, 2);
 * const update = await pool.train(job);
 * await pool.close();
 */
export async function createClientPool(dataset: SharedDataset, workers: number): Promise<ClientPool> {
  if (workers === 0) {
    await useTrainingBackend();
    const run = createJobRunner(dataset);
    return { workers: 0, train: run, close: async () => undefined };
  }
  const shared = dataset.images.buffer instanceof SharedArrayBuffer ? dataset : shareDataset(dataset);
  const pending = new Map<number, { resolve: (u: LocalUpdate) => void; reject: (e: Error) => void; slot: Slot }>();
  const slots: Slot[] = [];
  let nextId = 0;
  const url = workerBootstrap();
  await Promise.all(
    Array.from({ length: workers }, () => {
      const worker = new Worker(url);
      const slot: Slot = { worker, busy: 0 };
      slots.push(slot);
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('a training worker did not start within 60 s')), 60_000);
        worker.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
          for (const [id, p] of pending) if (p.slot === slot) pending.delete(id), p.reject(error);
        });
        worker.on('message', (reply: PoolReply) => {
          if (reply.type === 'ready') return (clearTimeout(timer), resolve());
          const p = pending.get(reply.id);
          if (!p) return;
          pending.delete(reply.id);
          p.slot.busy--;
          if (reply.type === 'done') p.resolve(reply.update);
          else p.reject(new Error(`client training failed in a worker: ${reply.message}`));
        });
        worker.postMessage({ type: 'init', dataset: shared } satisfies PoolRequest);
      });
    }),
  );
  return {
    workers,
    train(job) {
      const slot = job.errorFeedback
        ? slots[job.clientIndex % slots.length]
        : slots.reduce((a, b) => (b.busy < a.busy ? b : a));
      slot.busy++;
      const id = nextId++;
      return new Promise<LocalUpdate>((resolve, reject) => {
        pending.set(id, { resolve, reject, slot });
        slot.worker.postMessage({ type: 'job', id, job } satisfies PoolRequest);
      });
    },
    async close() {
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
