import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { currentAggregationBackend, selectAggregationBackend } from './backend.ts';

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

  it('reports an absent optional backend as an error, leaving the current one active', async () => {
    await selectAggregationBackend('cpu');
    await expect(selectAggregationBackend('tensorflow')).rejects.toMatchObject({ code: 'backend-unavailable' });
    expect(currentAggregationBackend()?.name).toBe('cpu');
  });
});
