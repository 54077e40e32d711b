/**
 * Worker-thread entry of the client pool: puts tfjs on wasm (with Flock's
 * gradient kernels) once, then trains one job per message through the SDK's
 * training-worker API, the code a browser's training worker runs. Messages
 * are the `PoolRequest` / `PoolReply` unions of client-pool.ts.
 */
import { parentPort } from 'node:worker_threads';
import { trainingWorkerApi } from '../client/training/training-api.ts';
import type { PoolReply, PoolRequest } from './client-pool.ts';
import { useTrainingBackend } from './tfjs-node-backend.ts';

const port = parentPort;
if (!port) throw new Error('training-worker.ts must run in a worker thread (see client-pool.ts)');

port.on('message', async (message: PoolRequest) => {
  const reply = (r: PoolReply, transfer: ArrayBuffer[] = []) => port.postMessage(r, transfer);
  try {
    if (message.type === 'init') {
      reply({ type: 'ready', ...(await useTrainingBackend()) });
      return;
    }
    const update = await trainingWorkerApi.train(message.key, message.job);
    reply({ type: 'done', id: message.id, update }, [update.bytes.buffer as ArrayBuffer]);
  } catch (error) {
    reply({
      type: 'failed',
      id: message.type === 'job' ? message.id : -1,
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  }
});
