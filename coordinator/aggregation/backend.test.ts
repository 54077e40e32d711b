import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createAccumulator } from './accumulator.ts';
import { currentAggregationBackend, selectAggregationBackend } from './backend.ts';
import { cudaDevices, gpuModelOf, visibleDevices } from './cuda-devices.ts';

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const TFJS_NODE = installed('@tensorflow/tfjs-node');
if (!TFJS_NODE)
  console.info(
    '[skipped] aggregation on tfjs-node: not installed (optional dependency; its install downloads libtensorflow)',
  );

describe('selectAggregationBackend', () => {
  it('falls through the optional tfjs-node packages to a working backend and records why', async () => {
    const backend = await selectAggregationBackend();
    expect(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).toContain(backend.name);
    expect(backend.attempts.at(-1)).toEqual({ name: backend.name, ok: true });
    for (const skipped of backend.attempts.slice(0, -1)) expect(skipped.error).toBeTruthy();
    // The active tfjs engine is the one the rest of the process imports.
    expect(tf.getBackend()).toBe(backend.name.startsWith('tensorflow') ? 'tensorflow' : backend.name);
    expect(tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).dataSync()).toEqual(new Float32Array([4, 6]));
  });

  it('is idempotent and exposes the choice for /healthz', async () => {
    const a = await selectAggregationBackend();
    const b = await selectAggregationBackend('auto');
    expect(b).toBe(a);
    expect(currentAggregationBackend()).toBe(a);
  });

  it('runs wasm in Node from the package files, and can switch to cpu on request', async () => {
    const wasm = await selectAggregationBackend('wasm');
    expect(wasm.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const cpu = await selectAggregationBackend('cpu');
    expect(cpu.name).toBe('cpu');
    expect(currentAggregationBackend()?.name).toBe('cpu');
  });

  it('names the device it computes on', async () => {
    expect((await selectAggregationBackend('wasm')).device).toMatch(/^CPU \(wasm(, SIMD)?, \d+ threads?\)$/);
    expect((await selectAggregationBackend('cpu')).device).toBe('CPU (JavaScript)');
  });

  it.skipIf(TFJS_NODE)('reports an absent optional backend as an error, leaving the current one active', async () => {
    await selectAggregationBackend('cpu');
    await expect(selectAggregationBackend('tensorflow')).rejects.toMatchObject({ code: 'backend-unavailable' });
    expect(currentAggregationBackend()?.name).toBe('cpu');
  });
});

describe.skipIf(!TFJS_NODE)('aggregation on tfjs-node (installed here)', () => {
  it('gives the same weighted mean as wasm to 1e-6', async () => {
    const specs = [
      { name: 'w', shape: [1000, 100] },
      { name: 'b', shape: [100] },
    ];
    let s = 7;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.02;
    const updates = Array.from({ length: 8 }, () =>
      specs.map((sp) => Float32Array.from({ length: sp.shape.reduce((a, b) => a * b, 1) }, rand)),
    );
    const meanOn = async (name: 'tensorflow' | 'wasm') => {
      await selectAggregationBackend(name);
      const acc = createAccumulator(specs);
      updates.forEach((u, i) => acc.add(u, i + 1));
      const mean = acc.mean();
      acc.dispose();
      return mean;
    };
    const native = await meanOn('tensorflow');
    const wasm = await meanOn('wasm');
    let worst = 0;
    native.forEach((t, i) => t.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - wasm[i][j])))));
    expect(worst).toBeLessThan(1e-6);
  });
});

describe('CUDA device detection', () => {
  it('reads GPU models from the NVIDIA driver and honours CUDA_VISIBLE_DEVICES', async () => {
    expect(gpuModelOf('Model: \t\t NVIDIA H200\nIRQ: 12\n')).toBe('NVIDIA H200');
    expect(gpuModelOf('IRQ: 12\n')).toBeNull();
    expect(visibleDevices(['A', 'B'], undefined)).toEqual(['A', 'B']);
    expect(visibleDevices(['A', 'B'], '')).toEqual([]);
    expect(visibleDevices(['A', 'B'], '-1')).toEqual([]);
    expect(visibleDevices(['A', 'B'], '1')).toEqual(['A']);
    const root = mkdtempSync(join(tmpdir(), 'flock-gpus-'));
    try {
      expect(await cudaDevices(join(root, 'absent'), {})).toEqual([]);
      mkdirSync(join(root, '0000:01:00.0'));
      writeFileSync(join(root, '0000:01:00.0', 'information'), 'Model: \t NVIDIA H200\nIRQ: 5\n');
      expect(await cudaDevices(root, {})).toEqual(['NVIDIA H200']);
      expect(await cudaDevices(root, { CUDA_VISIBLE_DEVICES: '' })).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('never picks tensorflow-gpu on a machine without a visible CUDA device', async () => {
    if ((await cudaDevices()).length > 0) return console.info('[skipped] this machine has a CUDA device');
    await expect(selectAggregationBackend('tensorflow-gpu')).rejects.toMatchObject({
      message: expect.stringContaining('no CUDA device'),
    });
  });
});
