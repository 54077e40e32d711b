/**
 * Puts tfjs on the wasm backend in a Node thread (main or worker): the
 * fastest trainer here without tfjs-node. The CNN also needs Flock's wasm
 * gradient kernels, which tfjs-backend-wasm lacks.
 */
import * as tf from '@tensorflow/tfjs';
import { selectAggregationBackend } from '../coordinator/aggregation/index.ts';
import { registerWasmTrainingKernels } from '../client/backends/wasm-training-kernels/index.ts';

let ready: Promise<string> | null = null;

/** Idempotent; resolves to the backend name in use. */
export function useTrainingBackend(): Promise<string> {
  ready ??= (async () => {
    const backend = await selectAggregationBackend('wasm');
    if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
    registerWasmTrainingKernels();
    await tf.ready();
    return backend.name;
  })();
  return ready;
}
