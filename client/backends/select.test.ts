import { describe, it, expect } from 'vitest';
import {
  BackendUnavailableError,
  benchmarkBackends,
  chooseBackend,
  probeBackends,
  rankBackends,
  type BackendCapabilities,
  type BenchmarkResult,
  type ProbeEnvironment,
} from './select.ts';

function caps(over: {
  webgpu?: Partial<BackendCapabilities['webgpu']>;
  webgl?: Partial<BackendCapabilities['webgl']>;
  wasm?: Partial<BackendCapabilities['wasm']>;
}): BackendCapabilities {
  return {
    webgpu: { available: false, adapterInfo: null, isFallbackOrSoftware: false, ...over.webgpu },
    webgl: { available: false, version: null, renderer: null, isSoftware: false, ...over.webgl },
    wasm: { available: false, simd: false, threads: false, ...over.wasm },
    cpu: true,
  };
}

const hardwareGpu = {
  available: true,
  adapterInfo: { vendor: 'nvidia', architecture: 'ampere' },
  isFallbackOrSoftware: false,
};
const swiftShaderGpu = {
  available: true,
  adapterInfo: { vendor: 'google', architecture: 'swiftshader' },
  isFallbackOrSoftware: true,
};

describe('probeBackends', () => {
  it('detects a hardware adapter, WebGL 2, and WASM SIMD with real WebAssembly.validate', async () => {
    const env: ProbeEnvironment = {
      gpu: { requestAdapter: async () => ({ info: { vendor: 'nvidia', architecture: 'ampere', description: 'RTX' } }) },
      webglRenderer: (v) => (v === 2 ? 'ANGLE (NVIDIA RTX)' : 'x'),
      validateWasm: (b) => WebAssembly.validate(b),
      crossOriginIsolated: true,
      sharedArrayBuffer: true,
    };
    const c = await probeBackends(env);
    expect(c.webgpu).toMatchObject({ available: true, isFallbackOrSoftware: false });
    expect(c.webgl).toEqual({ available: true, version: 2, renderer: 'ANGLE (NVIDIA RTX)', isSoftware: false });
    // Node 20's V8 supports SIMD, so the probe module must validate.
    expect(c.wasm).toEqual({ available: true, simd: true, threads: true });
  });

  it('flags SwiftShader by architecture, description or fallback flag, via info or requestAdapterInfo', async () => {
    const adapters = [
      { info: { vendor: 'google', architecture: 'swiftshader' } },
      { info: { vendor: '', description: 'SwiftShader Device (Subzero)' } },
      { info: { vendor: 'x' }, isFallbackAdapter: true },
      { info: { vendor: 'x', isFallbackAdapter: true } },
      { requestAdapterInfo: async () => ({ vendor: 'mesa', device: 'llvmpipe (LLVM 15)' }) },
    ];
    for (const adapter of adapters) {
      const c = await probeBackends({ gpu: { requestAdapter: async () => adapter } });
      expect(c.webgpu.available).toBe(true);
      expect(c.webgpu.isFallbackOrSoftware).toBe(true);
    }
  });

  it('reports unavailable on no adapter, a throwing probe or a hanging one, and never throws', async () => {
    const none = await probeBackends({ gpu: { requestAdapter: async () => null } });
    const throwing = await probeBackends({
      gpu: {
        requestAdapter: () => {
          throw new Error('boom');
        },
      },
    });
    const hanging = await probeBackends({ gpu: { requestAdapter: () => new Promise(() => {}) } }, { timeoutMs: 20 });
    for (const c of [none, throwing, hanging]) expect(c.webgpu.available).toBe(false);
  });

  it('falls back to WebGL 1, flags software WebGL, and needs isolation for threads', async () => {
    const c = await probeBackends({
      webglRenderer: (v) => (v === 1 ? 'Google SwiftShader' : null),
      validateWasm: () => false,
      crossOriginIsolated: false,
      sharedArrayBuffer: true,
    });
    expect(c.webgl).toEqual({ available: true, version: 1, renderer: 'Google SwiftShader', isSoftware: true });
    expect(c.wasm).toEqual({ available: true, simd: false, threads: false });
    const bare = await probeBackends({});
    expect(bare).toEqual(caps({}));
  });
});

describe('chooseBackend', () => {
  it('prefers hardware WebGPU, then hardware WebGL, then WASM, then CPU', () => {
    const all = caps({ webgpu: hardwareGpu, webgl: { available: true, version: 2 }, wasm: { available: true } });
    expect(chooseBackend({ capabilities: all }).backend).toBe('webgpu');
    expect(
      chooseBackend({ capabilities: caps({ webgl: { available: true, version: 2 }, wasm: { available: true } }) })
        .backend,
    ).toBe('webgl');
    expect(chooseBackend({ capabilities: caps({ wasm: { available: true } }) }).backend).toBe('wasm');
    expect(chooseBackend({ capabilities: caps({}) })).toMatchObject({
      backend: 'cpu',
      reason: expect.stringMatching(/CPU/),
    });
  });

  it('ranks software WebGPU and WebGL below WASM (headless Chromium)', () => {
    const headless = caps({
      webgpu: swiftShaderGpu,
      webgl: { available: true, version: 2, renderer: 'SwiftShader', isSoftware: true },
      wasm: { available: true, simd: true },
    });
    expect(rankBackends(headless)).toEqual(['wasm', 'webgpu', 'webgl', 'cpu']);
    const choice = chooseBackend({ capabilities: headless });
    expect(choice.backend).toBe('wasm');
    expect(choice.reason).toMatch(/simd on/);
    // With no WASM, a software GPU still beats plain JS.
    expect(chooseBackend({ capabilities: caps({ webgpu: swiftShaderGpu }) }).backend).toBe('webgpu');
  });

  it('honours a forced backend and warns when it is a software adapter', () => {
    const headless = caps({ webgpu: swiftShaderGpu, wasm: { available: true } });
    const forced = chooseBackend({ capabilities: headless, forced: 'webgpu' });
    expect(forced.backend).toBe('webgpu');
    expect(forced.reason).toMatch(/forced.*software/);
    expect(chooseBackend({ capabilities: headless, forced: 'cpu' }).backend).toBe('cpu');
  });

  it('throws a clear error when the forced backend is unavailable or already failed', () => {
    const c = caps({ wasm: { available: true } });
    let error: unknown;
    try {
      chooseBackend({ capabilities: c, forced: 'webgpu' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as BackendUnavailableError).code).toBe('backend_unavailable');
    expect((error as Error).message).toMatch(/'webgpu'.*Available here: wasm, cpu/);
    expect(() => chooseBackend({ capabilities: c, forced: 'wasm', exclude: ['wasm'] })).toThrow(/failed/);
  });

  it('uses a benchmark result when its winner is available and not excluded', () => {
    const c = caps({ webgpu: hardwareGpu, wasm: { available: true } });
    const bench: BenchmarkResult = { fastest: 'wasm', timingsMs: { wasm: 1.1, webgpu: 3 }, fromCache: true };
    expect(chooseBackend({ capabilities: c, benchmark: bench })).toMatchObject({
      backend: 'wasm',
      reason: expect.stringMatching(/cached.*1\.10 ms/),
    });
    const stale: BenchmarkResult = { fastest: 'webgl', timingsMs: { webgl: 0.5 }, fromCache: true };
    expect(chooseBackend({ capabilities: c, benchmark: stale }).backend).toBe('webgpu');
    expect(chooseBackend({ capabilities: c, benchmark: bench, exclude: ['wasm'] }).backend).toBe('webgpu');
  });

  it('falls back past a backend that failed at run time (lost WebGPU device)', () => {
    const c = caps({ webgpu: hardwareGpu, webgl: { available: true, version: 2 }, wasm: { available: true } });
    const choice = chooseBackend({ capabilities: c, exclude: ['webgpu'] });
    expect(choice.backend).toBe('webgl');
    expect(choice.reason).toMatch(/after webgpu failed/);
    expect(chooseBackend({ capabilities: c, exclude: ['webgpu', 'webgl', 'wasm', 'cpu'] }).backend).toBe('cpu');
  });
});

describe('benchmarkBackends', () => {
  it('times real runs, picks the fastest, skips failures and caches per key', async () => {
    const store = new Map<string, BenchmarkResult>();
    const cache = { get: (k: string) => store.get(k), set: (k: string, v: BenchmarkResult) => void store.set(k, v) };
    const calls: string[] = [];
    const runOnce = async (b: string) => {
      calls.push(b);
      if (b === 'webgl') throw new Error('context lost');
      if (b === 'webgpu') await new Promise((r) => setTimeout(r, 15));
    };
    const first = await benchmarkBackends(['webgpu', 'webgl', 'wasm'], runOnce, {
      cache,
      cacheKey: 'digits@3',
      runs: 3,
    });
    expect(first.fastest).toBe('wasm');
    expect(first.fromCache).toBe(false);
    expect(first.timingsMs.webgpu).toBeGreaterThan(10);
    expect(first.timingsMs.webgl).toBeUndefined();
    expect(calls.filter((c) => c === 'wasm')).toHaveLength(4); // 1 warmup + 3 timed
    expect([...store.keys()]).toEqual(['flock:backend-benchmark:digits@3']);

    calls.length = 0;
    const second = await benchmarkBackends(['webgpu', 'wasm'], runOnce, { cache, cacheKey: 'digits@3' });
    expect(second).toMatchObject({ fastest: 'wasm', fromCache: true });
    expect(calls).toEqual([]);
    // A cached winner that is no longer a candidate is measured again.
    const third = await benchmarkBackends(['webgpu', 'cpu'], runOnce, { cache, cacheKey: 'digits@3', runs: 1 });
    expect(third).toMatchObject({ fastest: 'cpu', fromCache: false });
  });

  it('uses the median, so one slow outlier does not decide', async () => {
    let t = 0;
    const perRun: Record<string, number[]> = { webgpu: [0, 1, 1, 50, 1], wasm: [0, 2, 2, 2, 2] };
    const runOnce = async (b: string) => {
      t += perRun[b].shift() ?? 0;
    };
    const r = await benchmarkBackends(['webgpu', 'wasm'], runOnce, { runs: 4, warmup: 1, now: () => t });
    expect(r.timingsMs).toEqual({ webgpu: 1, wasm: 2 });
    expect(r.fastest).toBe('webgpu');
  });

  it('throws when every backend fails', async () => {
    await expect(
      benchmarkBackends(['wasm'], async () => {
        throw new Error('no model');
      }),
    ).rejects.toThrow(/every backend failed.*wasm: no model/);
  });
});
