/**
 * Picks the tfjs backend the coordinator aggregates on: tfjs-node-gpu, then
 * tfjs-node (optional dependencies whose install downloads libtensorflow, so
 * they are often absent), then tfjs-backend-wasm in Node, then cpu. The choice
 * and why the better ones were skipped are kept for the log and /healthz.
 *
 * All of them register into the one tfjs engine: tfjs-core keeps its engine on
 * `globalThis._tfengine`, and in Node every package here resolves to the CJS
 * builds of the single hoisted @tensorflow/tfjs-core, so tensors made by
 * `import * as tf from '@tensorflow/tfjs'` elsewhere live on the chosen backend.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { cudaDevices } from './cuda-devices.ts';
import { AggregationError } from './errors.ts';

export type AggregationBackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export type AggregationBackendPreference = 'auto' | AggregationBackendName;

/** One backend tried during selection, with the reason it was skipped. */
export interface BackendAttempt {
  name: AggregationBackendName;
  ok: boolean;
  error?: string;
}

export interface AggregationBackend {
  /** Flock's name for it; `tf.getBackend()` says 'tensorflow' for both tfjs-node flavours. */
  name: AggregationBackendName;
  /** One line for the log and /healthz. */
  reason: string;
  /** What it computes on, as checked: 'NVIDIA H200 (CUDA)', 'CPU (libtensorflow)', 'CPU (wasm, SIMD, 1 thread)', 'CPU (JavaScript)'. */
  device: string;
  attempts: BackendAttempt[];
  tf: typeof tf;
}

const ORDER: AggregationBackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
let current: AggregationBackend | null = null;
let pending: Promise<AggregationBackend> | null = null;

// A variable specifier keeps tsc and bundlers from resolving optional packages that may be absent.
async function importOptional(specifier: string): Promise<void> {
  await import(/* @vite-ignore */ specifier);
}

/**
 * Absolute file paths of the wasm binaries. In Node the emscripten loader reads
 * them with fs (a plain path or a file:// URL both work); without this it falls
 * back to `__dirname` of its CJS build, which breaks once the coordinator is bundled.
 */
function wasmFilePaths(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const files = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
  return Object.fromEntries(files.map((f) => [f, require.resolve(`@tensorflow/tfjs-backend-wasm/dist/${f}`)]));
}

/** Activates `name`; resolves to the device it computes on. */
async function tryBackend(name: AggregationBackendName): Promise<string> {
  if (name === 'tensorflow-gpu') {
    // tfjs-node-gpu loads and quietly runs on the CPU where no GPU is visible: check for one first.
    const gpus = await cudaDevices();
    if (gpus.length === 0)
      throw new Error('no CUDA device (no NVIDIA GPU in /proc/driver/nvidia/gpus visible to CUDA_VISIBLE_DEVICES)');
    await importOptional('@tensorflow/tfjs-node-gpu');
    if (!(await tf.setBackend('tensorflow'))) throw new Error('tf.setBackend("tensorflow") returned false');
    return `${gpus.join(', ')} (CUDA)`;
  }
  if (name === 'tensorflow') {
    await importOptional('@tensorflow/tfjs-node');
    if (!(await tf.setBackend('tensorflow'))) throw new Error('tf.setBackend("tensorflow") returned false');
    return 'CPU (libtensorflow)';
  }
  if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(wasmFilePaths());
    // setBackend resolves false (it does not throw) when the wasm module fails to load.
    if (!(await tf.setBackend('wasm')))
      throw new Error('tf.setBackend("wasm") returned false (wasm binary not loadable)');
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    return `CPU (wasm${simd ? ', SIMD' : ''}, ${wasm.getThreadsCount()} thread${wasm.getThreadsCount() === 1 ? '' : 's'})`;
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend("cpu") returned false');
  return 'CPU (JavaScript)';
}

async function select(prefer: AggregationBackendPreference): Promise<AggregationBackend> {
  const candidates = prefer === 'auto' ? ORDER : [prefer];
  const attempts: BackendAttempt[] = [];
  for (const name of candidates) {
    try {
      const device = await tryBackend(name);
      await tf.ready();
      const skipped = attempts.map((a) => `${a.name}: ${a.error}`).join('; ');
      const reason =
        prefer === 'auto' ? (skipped ? `best available (skipped ${skipped})` : 'best available') : 'requested';
      return { name, reason, device, attempts: [...attempts, { name, ok: true }], tf };
    } catch (error) {
      attempts.push({ name, ok: false, error: error instanceof Error ? error.message.split('\n')[0] : String(error) });
    }
  }
  throw new AggregationError(
    'backend-unavailable',
    `no aggregation backend could start: ${attempts.map((a) => `${a.name}: ${a.error}`).join('; ')}`,
    { attempts },
  );
}

/**
 * Selects and activates the aggregation backend. Idempotent: later calls
 * return the same selection unless a different explicit backend is asked for
 * (tests use that to run the suite on each backend; tfjs moves live tensors).
 *
 * @example
 * const backend = await selectAggregationBackend();
 * log.info({ backend: backend.name, reason: backend.reason }, 'aggregation backend');
 */
export async function selectAggregationBackend(
  prefer: AggregationBackendPreference = 'auto',
): Promise<AggregationBackend> {
  if (pending) {
    const chosen = await pending;
    if (prefer === 'auto' || prefer === chosen.name) return chosen;
  }
  const previous = pending;
  const next = select(prefer);
  pending = next;
  try {
    current = await next;
    return current;
  } catch (error) {
    pending = previous;
    throw error;
  }
}

/**
 * The active backend, or null before `selectAggregationBackend` resolved. For /healthz.
 *
 * @example
 * app.get('/healthz', (c) => c.json({ aggregation: currentAggregationBackend()?.name ?? null }));
 */
export function currentAggregationBackend(): AggregationBackend | null {
  return current;
}

/** Throws unless a backend was selected; the sync entry points call it. */
export function requireAggregationBackend(): AggregationBackend {
  if (!current) {
    throw new AggregationError(
      'backend-not-selected',
      'no aggregation backend selected: await selectAggregationBackend() once at startup',
    );
  }
  return current;
}
