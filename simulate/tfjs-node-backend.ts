/**
 * Puts tfjs on the wasm backend in a Node thread (main or worker): the
 * fastest trainer here without tfjs-node. The CNN also needs Flock's wasm
 * gradient kernels, which tfjs-backend-wasm lacks.
 */
import * as tf from '@tensorflow/tfjs';
import { selectAggregationBackend } from '../coordinator/aggregation/index.ts';
import { registerWasmTrainingKernels } from '../client/backends/wasm-training-kernels/index.ts';

let ready: Promise<{ backend: string; flockKernels: string[] }> | null = null;

/** Idempotent; resolves to the backend training runs on and the gradient kernels Flock added there. */
export function useTrainingBackend(): Promise<{ backend: string; flockKernels: string[] }> {
  ready ??= (async () => {
    await selectAggregationBackend('wasm');
    if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
    const kernels = registerWasmTrainingKernels();
    await tf.ready();
    return { backend: tf.getBackend(), flockKernels: [...kernels.registered, ...kernels.alreadyPresent] };
  })();
  return ready;
}
