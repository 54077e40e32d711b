/**
 * Worker-thread entry of the client pool: receives the shared training set
 * once, then trains one job per message on its own tfjs wasm instance.
 * Messages are the `PoolRequest` / `PoolReply` unions of client-pool.ts.
 */
import { parentPort } from 'node:worker_threads';
import type { LocalUpdate } from '../client/federated/index.ts';
import { createJobRunner, type SharedDataset, type TrainingJob } from './training-job.ts';
import { useTrainingBackend } from './tfjs-node-backend.ts';
import type { PoolReply, PoolRequest } from './client-pool.ts';

const port = parentPort;
if (!port) throw new Error('training-worker.ts must run in a worker thread (see client-pool.ts)');
let run: ((job: TrainingJob) => Promise<LocalUpdate>) | null = null;

port.on('message', async (message: PoolRequest) => {
  const reply = (r: PoolReply, transfer: ArrayBuffer[] = []) => port.postMessage(r, transfer);
  try {
    if (message.type === 'init') {
      await useTrainingBackend();
      const dataset: SharedDataset = message.dataset;
      run = createJobRunner(dataset);
      reply({ type: 'ready' });
      return;
    }
    if (!run) throw new Error('job before init');
    const update = await run(message.job);
    reply({ type: 'done', id: message.id, update }, [update.bytes.buffer as ArrayBuffer]);
  } catch (error) {
    reply({
      type: 'failed',
      id: message.type === 'job' ? message.id : -1,
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  }
});
