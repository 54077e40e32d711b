/**
 * Worker-thread entry of the client pool: puts tfjs on wasm (with Flock's
 * gradient kernels) once, then trains one job per message through the SDK's
 * training-worker API, the code a browser's training worker runs, and runs
 * the phases of secure rounds through the same API (it keeps each device's
 * update and secrets between them). Messages are the `PoolRequest` /
 * `PoolReply` unions of client-pool.ts.
 */
import { parentPort } from 'node:worker_threads';
import { trainingWorkerApi } from '../client/training/training-api.ts';
import { SecAggError } from '../shared/secagg/secagg-error.ts';
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
    if (message.type === 'secure') {
      const method = trainingWorkerApi[message.method] as (...args: unknown[]) => Promise<unknown>;
      const value = await method(...message.args);
      const masked = (value as { masked?: unknown } | undefined)?.masked;
      reply(
        { type: 'secure-done', id: message.id, value },
        masked instanceof Uint32Array ? [masked.buffer as ArrayBuffer] : [],
      );
      return;
    }
    const update = await trainingWorkerApi.train(message.key, message.job);
    reply({ type: 'done', id: message.id, update }, [update.bytes.buffer as ArrayBuffer]);
  } catch (error) {
    const id = message.type === 'init' ? -1 : message.id;
    // A secure round's refusal keeps its code (the round loop reads it) and its message as the device would say it.
    if (error instanceof SecAggError) reply({ type: 'failed', id, message: error.message, code: error.code });
    else
      reply({ type: 'failed', id, message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
