import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createPredictor, type RunBatch } from './predictor.ts';
import { FlockInputError } from './input-error.ts';

const spec = { shape: [null, 2, 2, 1], dtype: 'float32' as const };
let model: tf.LayersModel;

/** Wrap the model's own predict to count real forward passes and their batch sizes. */
function countPasses(m: tf.LayersModel): number[] {
  const sizes: number[] = [];
  const original = m.predict.bind(m);
  m.predict = ((x: tf.Tensor, args?: object) => {
    sizes.push(x.shape[0]);
    return original(x, args);
  }) as typeof m.predict;
  return sizes;
}

function unbatched(input: number[]): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor(input, [1, 2, 2, 1])) as tf.Tensor).dataSync() as Float32Array).slice();
}

const randomInput = (i: number) => [Math.sin(i), Math.cos(i * 1.3), (i % 7) / 7, -((i % 5) / 5)];

beforeAll(async () => {
  await tf.setBackend('cpu');
  model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [2, 2, 1] }),
      tf.layers.dense({ units: 8, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({
        units: 3,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      }),
    ],
  });
});

afterAll(() => model.dispose());

describe('createPredictor with a real tfjs model', () => {
  it('batches concurrent calls into one forward pass with the same results as unbatched predict', async () => {
    const expected = Array.from({ length: 10 }, (_, i) => unbatched(randomInput(i)));
    const sizes = countPasses(model);
    const predictor = createPredictor({ model, inputSpec: spec });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => predictor.predict(randomInput(i))));
    expect(sizes).toEqual([10]);
    results.forEach((r, i) => {
      expect(r.cached).toBe(false);
      expect(r.probabilities).toHaveLength(3);
      r.probabilities.forEach((p, j) => expect(p).toBeCloseTo(expected[i][j], 6));
      expect(r.label).toBe(expected[i].indexOf(Math.max(...expected[i])));
      expect(r.confidence).toBe(r.probabilities[r.label]);
    });
    const stats = predictor.stats();
    expect(stats).toMatchObject({ count: 10, cacheHits: 0, forwardPasses: 1 });
    expect(stats.latency.count).toBe(10);
    expect(stats.confidenceHistogram.counts.reduce((a, b) => a + b, 0)).toBe(10);
    predictor.dispose();
  });

  it('splits a burst larger than maxBatch into several passes', async () => {
    const sizes = countPasses(model);
    const predictor = createPredictor({ model, inputSpec: spec, maxBatch: 16, cacheSize: 0 });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => predictor.predict(randomInput(100 + i))));
    expect(sizes).toEqual([16, 16, 8]);
    expect(results[39].probabilities).toEqual(unbatched(randomInput(139)).map((v) => Math.fround(v)));
    predictor.dispose();
  });

  it('answers a repeated input from the cache without a forward pass, and callers cannot corrupt it', async () => {
    const sizes = countPasses(model);
    const predictor = createPredictor({ model, inputSpec: spec });
    const first = await predictor.predict(randomInput(1));
    const kept = first.probabilities.slice();
    first.probabilities.fill(0);
    const second = await predictor.predict(new Float32Array(randomInput(1)));
    expect(second.cached).toBe(true);
    expect(second.probabilities).toEqual(kept);
    expect(sizes).toHaveLength(1);
    expect(predictor.stats()).toMatchObject({ count: 2, cacheHits: 1, forwardPasses: 1 });
    expect(predictor.stats().latency.count).toBe(1);
    predictor.dispose();
  });

  it('accepts tensors and ImageData-like inputs and leaks no tensors', async () => {
    const predictor = createPredictor({ model, inputSpec: spec, cacheSize: 0 });
    await predictor.predict([0, 0, 0, 0]); // warm up: layers create their variables lazily
    const before = tf.memory().numTensors;
    const t = tf.tensor([0.2, 0.4, 0.6, 0.8], [1, 2, 2, 1]);
    const fromTensor = await predictor.predict(t);
    t.dispose();
    const gray = (v: number) => [v, v, v, 255];
    const image = {
      data: new Uint8ClampedArray([...gray(51), ...gray(102), ...gray(153), ...gray(204)]),
      width: 2,
      height: 2,
    };
    const fromImage = await predictor.predict(image);
    expect(fromImage.probabilities).toEqual(fromTensor.probabilities);
    await Promise.all([predictor.predict([1, 2, 3, 4]), predictor.predict([1, 2, 3, 5])]);
    await expect(predictor.predict([Number.NaN, 0, 0, 0])).rejects.toThrow(FlockInputError);
    expect(tf.memory().numTensors).toBe(before);
    predictor.dispose();
  });

  it('reuses its staging buffer without mixing up inputs: a mutated caller buffer, bursts while a pass is in flight, a failed input', async () => {
    const predictor = createPredictor({ model, inputSpec: spec, cacheSize: 0, batchWindowMs: 0 });
    const buffer = new Float32Array(4);
    const burst = (from: number) =>
      Array.from({ length: 3 }, (_, i) => {
        buffer.set(randomInput(from + i)); // one buffer, refilled after each call: each call took its own copy
        return predictor.predict(buffer);
      });
    const first = burst(200);
    await Promise.resolve().then(() => Promise.resolve()); // the first burst's pass has started
    const rejected = predictor.predict([1, Number.NaN, 0, 0]); // fails after writing into a slot
    const second = burst(300);
    await expect(rejected).rejects.toThrow(FlockInputError);
    const results = await Promise.all([...first, ...second]);
    const expected = [200, 201, 202, 300, 301, 302].map((i) => unbatched(randomInput(i)).map((v) => Math.fround(v)));
    expect(results.map((r) => r.probabilities)).toEqual(expected);
    predictor.dispose();
  });

  it('answers a model whose output is a reshape of its input from the input, not from the refilled buffer', async () => {
    // On cpu the output then shares the input tensor's values: the staging buffer the next calls refill.
    const reshape = tf.sequential({ layers: [tf.layers.reshape({ targetShape: [4], inputShape: [2, 2, 1] })] });
    const predictor = createPredictor({ model: reshape, inputSpec: spec, cacheSize: 0, batchWindowMs: 0 });
    const first = predictor.predict([0.1, 0.2, 0.3, 0.4]);
    await Promise.resolve().then(() => Promise.resolve());
    const second = predictor.predict([0.9, 0.8, 0.7, 0.6]);
    expect(Array.from((await first).probabilities)).toEqual([0.1, 0.2, 0.3, 0.4].map(Math.fround));
    expect(Array.from((await second).probabilities)).toEqual([0.9, 0.8, 0.7, 0.6].map(Math.fround));
    predictor.dispose();
    reshape.dispose();
  });
});

describe('createPredictor batching and caching (run function)', () => {
  /** Identity "model": each output row is the input row, so results are checkable exactly. */
  const identity =
    (calls: number[]): RunBatch =>
    async (batch, n) => {
      calls.push(n);
      return batch.slice();
    };
  const flat = { shape: [null, 3], dtype: 'float32' as const };

  it('collects calls within the window and runs lone calls after it', async () => {
    const calls: number[] = [];
    const predictor = createPredictor({ model: identity(calls), inputSpec: flat, batchWindowMs: 40, cacheSize: 0 });
    const a = predictor.predict([1, 0, 0]);
    await new Promise((r) => setTimeout(r, 5));
    const b = predictor.predict([0, 1, 0]);
    const [ra, rb] = await Promise.all([a, b]);
    expect(calls).toEqual([2]);
    expect([ra.label, rb.label]).toEqual([0, 1]);
    expect(ra.latencyMs).toBeGreaterThanOrEqual(30);
    await predictor.predict([0, 0, 1]);
    expect(calls).toEqual([2, 1]);
  });

  it('with batchWindowMs 0 batches a synchronous burst without waiting for a timer', async () => {
    const calls: number[] = [];
    const predictor = createPredictor({ model: identity(calls), inputSpec: flat, batchWindowMs: 0 });
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => predictor.predict([i, 10, 20])));
    expect(calls).toEqual([5]);
    expect(results.map((r) => Array.from(r.probabilities))).toEqual([0, 1, 2, 3, 4].map((i) => [i, 10, 20]));
  });

  it('evicts the least recently used result beyond cacheSize', async () => {
    const calls: number[] = [];
    const predictor = createPredictor({ model: identity(calls), inputSpec: flat, cacheSize: 2, batchWindowMs: 0 });
    const p = (v: number) => predictor.predict([v, 0, 0]);
    await p(1);
    await p(2);
    expect((await p(1)).cached).toBe(true); // 1 is now most recent
    await p(3); // evicts 2
    expect((await p(1)).cached).toBe(true);
    expect((await p(3)).cached).toBe(true);
    expect((await p(2)).cached).toBe(false);
    expect(calls).toHaveLength(4);
  });

  it('rejects bad inputs with a FlockInputError that says what was expected', async () => {
    const predictor = createPredictor({ model: identity([]), inputSpec: { shape: [null, 2, 2, 1], dtype: 'float32' } });
    const bad: [unknown, RegExp][] = [
      [[1, 2, 3], /expected 4 values \(shape \[2, 2, 1\]\), got 3 values/],
      [[1, 2, 3, Infinity], /finite numbers, got Infinity at index 3/],
      [
        [
          [1, 2],
          [3, 4],
        ],
        /flatten nested arrays/,
      ],
      ['pixels', /got a string/],
      [null, /got null/],
      [{ data: new Uint8ClampedArray(9 * 4), width: 3, height: 3 }, /a 2x2 image, got a 3x3 image/],
      [{ data: new Uint8ClampedArray(3), width: 2, height: 2 }, /16 RGBA bytes/],
    ];
    for (const [input, message] of bad) {
      const error = await predictor.predict(input as number[]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FlockInputError);
      expect((error as Error).message).toMatch(message);
    }
    const wrongShape = tf.zeros([2, 2]);
    const boolTensor = tf.ones([2, 2, 1], 'bool');
    await expect(predictor.predict(wrongShape)).rejects.toThrow(
      /tensor of shape \[2, 2, 1\] or \[1, 2, 2, 1\], got shape \[2, 2\]/,
    );
    await expect(predictor.predict(boolTensor)).rejects.toMatchObject({ code: 'dtype_mismatch' });
    tf.dispose([wrongShape, boolTensor]);
    const ints = createPredictor({ model: identity([]), inputSpec: { shape: [null, 2], dtype: 'int32' } });
    await expect(ints.predict([1, 2.5])).rejects.toThrow(/integers/);
    expect(() =>
      createPredictor({ model: identity([]), inputSpec: { shape: [null, null, 3], dtype: 'float32' } }),
    ).toThrow(/free inner dimensions/);
  });

  it('rejects every call of a failed batch, and queued calls on dispose', async () => {
    const failing: RunBatch = async () => {
      throw new Error('device lost');
    };
    const predictor = createPredictor({ model: failing, inputSpec: flat, batchWindowMs: 0 });
    const results = await Promise.allSettled([predictor.predict([1, 2, 3]), predictor.predict([4, 5, 6])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const wrongWidth = createPredictor({ model: async () => new Float32Array(5), inputSpec: flat, batchWindowMs: 0 });
    await expect(Promise.all([wrongWidth.predict([1, 2, 3]), wrongWidth.predict([1, 2, 4])])).rejects.toThrow(
      /5 values for a batch of 2/,
    );

    const slow = createPredictor({ model: identity([]), inputSpec: flat, batchWindowMs: 1000 });
    const queued = slow.predict([1, 2, 3]);
    await new Promise((r) => setTimeout(r, 5));
    slow.dispose();
    await expect(queued).rejects.toThrow(/disposed/);
    await expect(slow.predict([1, 2, 3])).rejects.toThrow(/disposed/);
  });
});
