/**
 * Gradient kernels Flock supplies for tfjs-backend-wasm, so that training
 * works on wasm (see `registerWasmTrainingKernels`).
 */
export { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from './register.ts';
export type { WasmKernelRegistration } from './register.ts';
export {
  conv2dBackpropFilterWasmConfig,
  makeConv2dBackpropFilterWasm,
  MAX_COLUMN_FLOATS,
} from './conv2d-backprop-filter.ts';
export type { Conv2DBackpropFilterArgs } from './conv2d-backprop-filter.ts';
