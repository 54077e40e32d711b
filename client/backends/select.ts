/**
 * Which tfjs backend the client runs on: probe what the device offers, rank it,
 * and optionally measure.
 *
 * Why not let tfjs pick: tfjs chooses WebGPU by priority even when the adapter
 * is software (SwiftShader in headless Chromium), where the MNIST CNN takes
 * ~298 ms per prediction against ~1.1 ms on WASM. So software adapters (WebGPU
 * or WebGL) rank below WASM here.
 *
 * Probing reads the environment through a `ProbeEnvironment` so that the
 * decisions are plain functions, testable in Node with fake capability objects;
 * `browserProbeEnvironment()` is the real one.
 */

/** The four tfjs backends Flock knows. */
export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/** Identity of a GPU adapter, as `GPUAdapter.info` reports it. */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/** The part of a `GPUAdapter` the probe reads (`info` in current Chromium, `requestAdapterInfo()` before). */
export interface GpuAdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<AdapterInfoLike>;
}

/** What the probe may ask of the environment. Every member is optional: absent means "not there". */
export interface ProbeEnvironment {
  /** `navigator.gpu`. */
  gpu?: {
    requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapterLike | null>;
  };
  /** Creates a WebGL context of `version` and returns its unmasked renderer string ('' when hidden), or null when unavailable. */
  webglRenderer?: (version: 1 | 2) => string | null;
  /** `WebAssembly.validate`. */
  validateWasm?: (bytes: Uint8Array<ArrayBuffer>) => boolean;
  crossOriginIsolated?: boolean;
  sharedArrayBuffer?: boolean;
}

export interface BackendCapabilities {
  webgpu: { available: boolean; adapterInfo: AdapterInfoLike | null; isFallbackOrSoftware: boolean };
  webgl: { available: boolean; version: 1 | 2 | null; renderer: string | null; isSoftware: boolean };
  wasm: { available: boolean; simd: boolean; threads: boolean };
  cpu: true;
}

/** Renderer names of software rasterizers: as slow as or slower than WASM for small models. */
const SOFTWARE_RENDERERS = ['swiftshader', 'llvmpipe', 'lavapipe', 'softpipe', 'microsoft basic render'];

/** Smallest module using a SIMD instruction (v128 const + i8x16.popcnt), from wasm-feature-detect. */
const WASM_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

function isSoftwareName(...names: (string | undefined | null)[]): boolean {
  const text = names
    .filter((n): n is string => typeof n === 'string')
    .join(' ')
    .toLowerCase();
  return SOFTWARE_RENDERERS.some((s) => text.includes(s));
}

function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        resolve(fallback);
      },
    );
  });
}

/**
 * The real environment of a page or worker.
 *
 * @example
 * const capabilities = await probeBackends(browserProbeEnvironment());
 */
export function browserProbeEnvironment(): ProbeEnvironment {
  const g = globalThis as typeof globalThis & { navigator?: { gpu?: ProbeEnvironment['gpu'] } };
  return {
    gpu: g.navigator?.gpu,
    webglRenderer: (version) => {
      try {
        const canvas =
          typeof OffscreenCanvas !== 'undefined'
            ? new OffscreenCanvas(1, 1)
            : typeof document !== 'undefined'
              ? document.createElement('canvas')
              : null;
        if (canvas === null) return null;
        const gl = canvas.getContext(version === 2 ? 'webgl2' : 'webgl') as WebGLRenderingContext | null;
        if (gl === null) return null;
        const debug = gl.getExtension('WEBGL_debug_renderer_info');
        const renderer = debug === null ? '' : String(gl.getParameter(debug.UNMASKED_RENDERER_WEBGL));
        gl.getExtension('WEBGL_lose_context')?.loseContext(); // contexts are scarce; give this one back
        return renderer;
      } catch {
        return null;
      }
    },
    validateWasm: typeof WebAssembly === 'object' ? (bytes) => WebAssembly.validate(bytes) : undefined,
    crossOriginIsolated: typeof crossOriginIsolated === 'boolean' ? crossOriginIsolated : false,
    sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
  };
}

/**
 * Find out what the device offers. Never throws: a probe that fails or hangs
 * (`timeoutMs`, default 2000) reports the backend unavailable.
 *
 * @example
 * const caps = await probeBackends(browserProbeEnvironment());
 * if (caps.webgpu.isFallbackOrSoftware) console.info('WebGPU is software here; WASM will be faster');
 */
export async function probeBackends(
  env: ProbeEnvironment,
  options: { timeoutMs?: number } = {},
): Promise<BackendCapabilities> {
  const timeoutMs = options.timeoutMs ?? 2000;

  let webgpu: BackendCapabilities['webgpu'] = { available: false, adapterInfo: null, isFallbackOrSoftware: false };
  if (env.gpu !== undefined) {
    const gpu = env.gpu;
    const adapter = await withTimeout(
      Promise.resolve().then(() => gpu.requestAdapter({ powerPreference: 'high-performance' })),
      timeoutMs,
      null,
    );
    if (adapter !== null) {
      const info =
        adapter.info ??
        (adapter.requestAdapterInfo === undefined
          ? null
          : await withTimeout(adapter.requestAdapterInfo(), timeoutMs, null));
      const fallback = adapter.isFallbackAdapter === true || info?.isFallbackAdapter === true;
      webgpu = {
        available: true,
        adapterInfo: info,
        isFallbackOrSoftware:
          fallback || isSoftwareName(info?.vendor, info?.architecture, info?.description, info?.device),
      };
    }
  }

  let webgl: BackendCapabilities['webgl'] = { available: false, version: null, renderer: null, isSoftware: false };
  for (const version of [2, 1] as const) {
    const renderer = env.webglRenderer?.(version) ?? null;
    if (renderer !== null) {
      webgl = { available: true, version, renderer, isSoftware: isSoftwareName(renderer) };
      break;
    }
  }

  const validate = env.validateWasm;
  const wasmAvailable = validate !== undefined;
  let simd = false;
  try {
    simd = wasmAvailable && validate(WASM_SIMD_PROBE);
  } catch {
    simd = false;
  }
  const wasm = {
    available: wasmAvailable,
    simd,
    threads: wasmAvailable && env.crossOriginIsolated === true && env.sharedArrayBuffer === true,
  };

  return { webgpu, webgl, wasm, cpu: true };
}

/** Thrown when the app forces a backend the device does not offer. */
export class BackendUnavailableError extends Error {
  readonly code = 'backend_unavailable';
  readonly backend: BackendName;
  constructor(backend: BackendName, message: string) {
    super(message);
    this.name = 'BackendUnavailableError';
    this.backend = backend;
  }
}

/** Outcome of a micro-benchmark: median milliseconds per prediction per backend. */
export interface BenchmarkResult {
  fastest: BackendName;
  timingsMs: Partial<Record<BackendName, number>>;
  fromCache: boolean;
}

export interface BackendChoice {
  backend: BackendName;
  reason: string;
}

function isAvailable(caps: BackendCapabilities, backend: BackendName): boolean {
  return backend === 'cpu' ? true : caps[backend].available;
}

const UNAVAILABLE_HINT: Record<BackendName, string> = {
  webgpu: 'WebGPU needs a browser with navigator.gpu and an adapter (Chrome 113+, or --enable-unsafe-webgpu)',
  webgl: 'WebGL could not create a context (disabled, blocklisted GPU, or too many contexts)',
  wasm: 'WebAssembly is missing or disabled (check the Content-Security-Policy for wasm-unsafe-eval)',
  cpu: '',
};

/**
 * Backends in the order Flock prefers them on this device: hardware WebGPU,
 * hardware WebGL, WASM, then software WebGPU / WebGL, then CPU.
 *
 * @example
 * rankBackends(caps) // ['wasm', 'webgpu', 'cpu'] on headless Chromium with SwiftShader
 */
export function rankBackends(caps: BackendCapabilities): BackendName[] {
  const order: BackendName[] = [];
  if (caps.webgpu.available && !caps.webgpu.isFallbackOrSoftware) order.push('webgpu');
  if (caps.webgl.available && !caps.webgl.isSoftware) order.push('webgl');
  if (caps.wasm.available) order.push('wasm');
  if (caps.webgpu.available && caps.webgpu.isFallbackOrSoftware) order.push('webgpu');
  if (caps.webgl.available && caps.webgl.isSoftware) order.push('webgl');
  order.push('cpu');
  return order;
}

function describeBackend(caps: BackendCapabilities, backend: BackendName): string {
  switch (backend) {
    case 'webgpu': {
      const info = caps.webgpu.adapterInfo;
      const name = [info?.vendor, info?.architecture].filter(Boolean).join(' ') || 'unknown adapter';
      return caps.webgpu.isFallbackOrSoftware ? `software WebGPU adapter (${name})` : `WebGPU adapter ${name}`;
    }
    case 'webgl':
      return `${caps.webgl.isSoftware ? 'software ' : ''}WebGL ${caps.webgl.version ?? ''} (${caps.webgl.renderer || 'renderer hidden'})`;
    case 'wasm':
      return `WASM (simd ${caps.wasm.simd ? 'on' : 'off'}, threads ${caps.wasm.threads ? 'on' : 'off'})`;
    case 'cpu':
      return 'plain JS CPU backend';
  }
}

/**
 * Pick the backend: `forced` wins when available (else a clear error), then a
 * benchmark result, then the capability ranking. `exclude` drops backends that
 * failed at run time (e.g. a lost WebGPU device) so the next one is chosen.
 *
 * @example
 * const { backend, reason } = chooseBackend({ capabilities: caps });
 * await tf.setBackend(backend);
 * @throws BackendUnavailableError when `forced` is not available
 */
export function chooseBackend(options: {
  capabilities: BackendCapabilities;
  forced?: BackendName;
  benchmark?: BenchmarkResult;
  exclude?: readonly BackendName[];
}): BackendChoice {
  const { capabilities: caps, forced, benchmark } = options;
  const excluded = new Set(options.exclude ?? []);
  if (forced !== undefined) {
    if (!isAvailable(caps, forced)) {
      throw new BackendUnavailableError(
        forced,
        `the backend option asks for '${forced}', which this device does not offer: ${UNAVAILABLE_HINT[forced]}. ` +
          `Available here: ${rankBackends(caps).join(', ')}; drop the backend option to let Flock choose.`,
      );
    }
    if (excluded.has(forced)) {
      throw new BackendUnavailableError(
        forced,
        `the forced backend '${forced}' failed on this device; drop the backend option to fall back`,
      );
    }
    const slow =
      forced === 'webgpu' && caps.webgpu.isFallbackOrSoftware
        ? '; note: this is a software adapter, expect it to be slow'
        : '';
    return { backend: forced, reason: `forced by the backend option: ${describeBackend(caps, forced)}${slow}` };
  }
  const ranked = rankBackends(caps).filter((b) => !excluded.has(b));
  if (benchmark !== undefined && isAvailable(caps, benchmark.fastest) && !excluded.has(benchmark.fastest)) {
    const ms = benchmark.timingsMs[benchmark.fastest];
    return {
      backend: benchmark.fastest,
      reason: `fastest in ${benchmark.fromCache ? 'a cached' : 'a'} micro-benchmark (${ms?.toFixed(2)} ms per prediction): ${describeBackend(caps, benchmark.fastest)}`,
    };
  }
  // cpu is never excluded for good: it is the backend of last resort.
  const backend = ranked[0] ?? 'cpu';
  const skipped = excluded.size > 0 ? ` after ${[...excluded].join(', ')} failed` : '';
  return { backend, reason: `best by capability${skipped}: ${describeBackend(caps, backend)}` };
}

/** A key-value cache that may be sync (localStorage) or async (IndexedDB). */
export interface BenchmarkCache {
  get(key: string): BenchmarkResult | undefined | Promise<BenchmarkResult | undefined>;
  set(key: string, value: BenchmarkResult): void | Promise<void>;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Time `runs` predictions (after `warmup` untimed ones, which absorb shader
 * compilation) on each candidate and pick the fastest by median. A candidate
 * whose `runOnce` throws is skipped. With a `cache`, the result is stored under
 * `cacheKey` (name the device and model in it) and reused next time.
 *
 * @example
 * const bench = await benchmarkBackends(rankBackends(caps), async (b) => {
 *   await tf.setBackend(b); tf.tidy(() => model.predict(sample)).dataSync();
 * }, { cache: localStorageCache, cacheKey: `digits@${version}` });
 * chooseBackend({ capabilities: caps, benchmark: bench });
 */
export async function benchmarkBackends(
  candidates: readonly BackendName[],
  runOnce: (backend: BackendName) => Promise<void>,
  options: { cache?: BenchmarkCache; cacheKey?: string; runs?: number; warmup?: number; now?: () => number } = {},
): Promise<BenchmarkResult> {
  const key = `flock:backend-benchmark:${options.cacheKey ?? 'default'}`;
  const cached = await options.cache?.get(key);
  if (cached !== undefined && candidates.includes(cached.fastest)) return { ...cached, fromCache: true };

  const runs = options.runs ?? 5;
  const warmup = options.warmup ?? 1;
  const now = options.now ?? (() => performance.now());
  const timingsMs: Partial<Record<BackendName, number>> = {};
  const failures: string[] = [];
  for (const backend of candidates) {
    try {
      for (let i = 0; i < warmup; i++) await runOnce(backend);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const start = now();
        await runOnce(backend);
        times.push(now() - start);
      }
      timingsMs[backend] = median(times);
    } catch (error) {
      failures.push(`${backend}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const measured = (Object.entries(timingsMs) as [BackendName, number][]).sort((a, b) => a[1] - b[1]);
  if (measured.length === 0) {
    throw new Error(`every backend failed the micro-benchmark (${failures.join('; ')}); check that the model loads`);
  }
  const result: BenchmarkResult = { fastest: measured[0][0], timingsMs, fromCache: false };
  await options.cache?.set(key, result);
  return result;
}
