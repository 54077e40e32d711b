/**
 * Runtime pieces `connect` uses around the tfjs backend: activating the chosen
 * backend with fallback, what counts as a slow (software) backend, noticing a
 * lost WebGPU device, a localStorage cache for the calibration benchmark, and
 * an outbox view that keeps offline failures due.
 */
import * as tf from '@tensorflow/tfjs';
import {
  chooseBackend,
  type BackendCapabilities,
  type BackendName,
  type BenchmarkCache,
  type BenchmarkResult,
} from './backends/select.ts';
import type { ClientStore } from './storage/index.ts';
import { activateBackend } from './tfjs-backends.ts';

/** localStorage as a benchmark cache (absent in workers: then the benchmark runs every start). */
export function localStorageCache(): BenchmarkCache | undefined {
  const storage = (globalThis as { localStorage?: Storage }).localStorage;
  if (storage === undefined) return undefined;
  return {
    get: (key) => {
      try {
        const text = storage.getItem(key);
        return text === null ? undefined : (JSON.parse(text) as BenchmarkResult);
      } catch {
        return undefined;
      }
    },
    set: (key, value) => {
      try {
        storage.setItem(key, JSON.stringify(value));
      } catch {
        // A full or blocked localStorage only costs a re-run next start.
      }
    },
  };
}

/** The GPUDevice behind tfjs's webgpu backend, when that is the active one. */
export function webgpuDeviceLost(): Promise<{ reason?: string; message?: string }> | null {
  const device = (tf.backend() as { device?: { lost?: Promise<{ reason?: string; message?: string }> } }).device;
  return device?.lost ?? null;
}

/**
 * The store as the training scheduler sees it: an upload that failed while the
 * browser is offline stays due, instead of backing off for minutes, so the
 * 'online' flush sends it at once (the failure says nothing about the server).
 */
export function offlineAwareOutbox(store: ClientStore): ClientStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'rescheduleOutbox') {
        return (id: string, nextAttemptAt: number, error: string) =>
          target.rescheduleOutbox(id, globalThis.navigator?.onLine === false ? 0 : nextAttemptAt, error);
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export function isSlow(backend: BackendName, caps: BackendCapabilities): boolean {
  if (backend === 'webgpu') return caps.webgpu.isFallbackOrSoftware;
  if (backend === 'webgl') return caps.webgl.isSoftware;
  return true;
}

export async function pickBackend(
  caps: BackendCapabilities,
  forced: BackendName | undefined,
  failed: BackendName[] = [],
): Promise<{ backend: BackendName; reason: string }> {
  for (;;) {
    const choice = chooseBackend({ capabilities: caps, forced, exclude: failed });
    try {
      await activateBackend(choice.backend);
      return choice;
    } catch (error) {
      // A forced backend that fails is the app's problem to see; otherwise try the next one (cpu always works).
      if (forced !== undefined || choice.backend === 'cpu') throw error;
      failed.push(choice.backend);
    }
  }
}
