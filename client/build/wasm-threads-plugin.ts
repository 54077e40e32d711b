/**
 * Makes tfjs-backend-wasm's threaded-SIMD module survive bundling. tfjs starts
 * its wasm threads from a Blob holding `wasmFactoryThreadedSimd.toString()`,
 * but emscripten's factory reads `_scriptDir` from the closure around it, which
 * the Blob does not have (and a minifier renames): in a cross-origin-isolated
 * page the thread workers died with "ReferenceError: e is not defined" and
 * `connect()` never settled. The factory now declares its own `_scriptDir`
 * (Flock passes the wasm paths explicitly, so the script URL is not needed),
 * and the module sets the marker that tells the SDK threads are safe (without
 * it the SDK runs wasm single-threaded). The build fails if a tfjs upgrade
 * changes the code this relies on.
 *
 * Published as `flock-ml/vite` for apps that bundle the SDK themselves:
 *
 * @example
 * // vite.config.js
 * import { flockWasmThreads } from 'flock-ml/vite';
 * export default { plugins: [flockWasmThreads()] };
 */
import type { Plugin } from 'vite';
import { WASM_THREADS_MARKER } from '../wasm-threads-marker.ts';

const FILE = /tfjs-backend-wasm[\\/]wasm-out[\\/]tfjs-backend-wasm-threaded-simd\.js$/;
const FACTORY_HEAD =
  'function(WasmBackendModuleThreadedSimd) {\n  WasmBackendModuleThreadedSimd = WasmBackendModuleThreadedSimd || {};';

/** Rewrites the threaded factory so its source runs on its own; throws when the expected code is absent. */
export function selfContainedThreadedFactory(code: string): string {
  const at = code.indexOf(FACTORY_HEAD);
  if (at < 0 || code.indexOf(FACTORY_HEAD, at + 1) >= 0) {
    throw new Error(
      'tfjs-backend-wasm-threaded-simd.js changed: the factory head Flock patches was not found exactly once; check client/build/wasm-threads-plugin.ts against the new tfjs',
    );
  }
  const own =
    "\n  var _scriptDir = typeof document !== 'undefined' && document.currentScript ? document.currentScript.src : undefined;";
  return `${code.slice(0, at + FACTORY_HEAD.length)}${own}${code.slice(at + FACTORY_HEAD.length)}\n;globalThis.${WASM_THREADS_MARKER} = true;\n`;
}

/** The Vite (Rollup / Rolldown) plugin: apply it to any build that bundles the SDK. */
export function flockWasmThreads(): Plugin {
  return {
    name: 'flock-wasm-threads',
    enforce: 'pre',
    transform(code, id) {
      if (!FILE.test(id.split('?')[0])) return null;
      return { code: selfContainedThreadedFactory(code), map: null };
    },
  };
}
