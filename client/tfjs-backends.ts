/**
 * Registers the tfjs backends the SDK may run on and switches to one.
 * webgl and cpu come with @tensorflow/tfjs; wasm and webgpu are added here.
 *
 * The wasm binaries are loaded from beside the bundle (no CDN, so an installed
 * PWA works offline): the script-tag entry records its own URL with
 * `setAssetBase`, ESM users pass `assetsUrl` to `connect`.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { BackendName } from './backends/select.ts';
import { WASM_THREADS_MARKER } from './wasm-threads-marker.ts';

let assetBase: string | null = null;

/** How long a backend may take to start before it counts as failed (so `connect()` always settles). */
export const BACKEND_START_TIMEOUT_MS = 30_000;

/**
 * Where the tfjs wasm files live (a URL ending in '/'). Must be called before
 * the first `connect` that uses the wasm backend.
 *
 * @example
 * setAssetBase('/static/flock/'); // serves tfjs-backend-wasm*.wasm
 */
export function setAssetBase(url: string): void {
  assetBase = url.endsWith('/') ? url : `${url}/`;
}

/** The current asset base, or null when none was set. */
export function getAssetBase(): string | null {
  return assetBase;
}

/**
 * Switch tfjs to `backend` and wait until it is ready.
 * @throws Error when tfjs cannot initialize the backend (the message names it)
 *
 * @example
 * await activateBackend('wasm');
 */
export async function activateBackend(backend: BackendName): Promise<void> {
  if (backend === 'wasm') {
    if (assetBase === null) {
      throw new Error(
        'the wasm backend needs the URL of the tfjs wasm files: pass assetsUrl to connect(), or load flock.min.js with a <script> tag (it finds them beside itself)',
      );
    }
    // Set on every call: tfjs keeps the paths until the backend is initialized once.
    setWasmPaths(assetBase);
    // Without Flock's build plugin the threaded factory dies in its thread workers on isolated pages: one thread then.
    if ((globalThis as Record<string, unknown>)[WASM_THREADS_MARKER] !== true)
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  // tfjs may have started a backend on its own (its first op picks the best registered one): let that settle
  // first, or "already active" could mean "still loading" (offline, a service worker's wasm never arrives).
  const pending = (tf.engine() as unknown as { pendingBackendInit?: Promise<boolean> | null }).pendingBackendInit;
  await pending; // null when tfjs is not initializing anything
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`tfjs did not start the '${backend}' backend within ${BACKEND_START_TIMEOUT_MS / 1000} s`)),
      BACKEND_START_TIMEOUT_MS,
    );
  });
  try {
    const ok = await Promise.race([tf.setBackend(backend), hung]);
    if (!ok) throw new Error(`tfjs could not initialize the '${backend}' backend on this device`);
    await Promise.race([tf.ready(), hung]);
  } finally {
    clearTimeout(timer);
  }
}
