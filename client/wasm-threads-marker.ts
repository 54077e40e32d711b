/**
 * The global Flock's wasm-threads build plugin sets once it has made tfjs's
 * threaded-SIMD factory self-contained (client/build/wasm-threads-plugin.ts);
 * the SDK runs wasm threads only when it is set (client/tfjs-backends.ts).
 * Its own module so that the plugin imports no tfjs.
 */
export const WASM_THREADS_MARKER = '__flockWasmThreadsSelfContained';
