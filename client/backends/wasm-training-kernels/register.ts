/**
 * Registers the gradient kernels that tfjs-backend-wasm 4.22.0 lacks, so that
 * models (the FedAvg MNIST CNN included) train on wasm instead of falling back
 * to a slower backend.
 *
 * Measured in Node with tfjs 4.22.0: of the kernels that training the MNIST
 * CNN (conv 5x5 'same' + relu, maxPool, dense, softmax, SGD, sparse or
 * categorical crossentropy) and the 784-200-200-10 MLP reach, only
 * Conv2DBackpropFilter is missing (MaxPoolGrad, Conv2DBackpropInput and Step,
 * used by relu's gradient, exist). Registration skips any kernel already
 * present, so a future tfjs release that ships its own wins.
 */
import { getKernel, registerKernel } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';
import { conv2dBackpropFilterWasmConfig } from './conv2d-backprop-filter.ts';

/** Every kernel Flock supplies for the wasm backend. */
export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [conv2dBackpropFilterWasmConfig];

/** What one call to {@link registerWasmTrainingKernels} did. */
export interface WasmKernelRegistration {
  /** Kernels this call registered. */
  registered: string[];
  /** Kernels that were already there (tfjs's own, or an earlier call's). */
  alreadyPresent: string[];
}

/**
 * Registers Flock's wasm training kernels that are not registered yet.
 * Idempotent and cheap; call it once before training on wasm. It does not
 * need the wasm backend to be initialised (kernels are looked up at run time).
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import '@tensorflow/tfjs-backend-wasm';
 * registerWasmTrainingKernels();
 * await tf.setBackend('wasm');
 * await model.fit(xs, ys); // conv layers now train on wasm
 */
export function registerWasmTrainingKernels(): WasmKernelRegistration {
  const registered: string[] = [];
  const alreadyPresent: string[] = [];
  for (const config of WASM_TRAINING_KERNELS) {
    if (getKernel(config.kernelName, config.backendName) !== undefined) {
      alreadyPresent.push(config.kernelName);
    } else {
      registerKernel(config);
      registered.push(config.kernelName);
    }
  }
  return { registered, alreadyPresent };
}
