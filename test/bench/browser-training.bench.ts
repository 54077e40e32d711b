/**
 * Local training throughput in headless Chromium, through Flock's training
 * worker (comlink, transferred buffers) exactly as rounds use it: examples/s
 * per backend for mlp-small and a small CNN, and wasm with Flock's
 * Conv2DBackpropFilter kernel against the cpu backend (ratio).
 */
import * as tf from '@tensorflow/tfjs';
import { createMnistModel, partsFromModel, type ModelParts } from '../../shared/model/index.ts';
import { loadMnist } from '../../simulate/datasets/mnist.ts';
import { startHarness } from '../browser/harness.ts';
import type { BenchTable, Benchmark } from './bench-types.ts';
import { NAME_SHIM } from './browser-inference.bench.ts';

declare const Flock: typeof import('../../client/index.ts');

const EXAMPLES = 128;
const BACKENDS = ['wasm', 'cpu', 'webgl', 'webgpu'] as const;
/** Timed jobs per backend (median); software WebGPU trains the CNN at ~10 examples/s, so it gets one job after the warm-up to keep the run near 3 minutes. */
const REPEATS: Record<(typeof BACKENDS)[number], number> = { wasm: 3, cpu: 3, webgl: 3, webgpu: 1 };

function smallCnn(): tf.LayersModel {
  const model = tf.sequential({ name: 'small_cnn' });
  model.add(
    tf.layers.conv2d({
      name: 'conv1',
      inputShape: [28, 28, 1],
      filters: 8,
      kernelSize: 3,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    }),
  );
  model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(
    tf.layers.dense({
      name: 'output',
      units: 10,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    }),
  );
  return model;
}

const plain = (p: ModelParts) => ({
  topology: p.topology,
  weightSpecs: p.weightSpecs,
  weights: p.weights.map((w) => Array.from(w)),
});

const bench: Benchmark = {
  name: 'browser-training',
  async run(): Promise<BenchTable[]> {
    const h = await startHarness();
    const data = loadMnist({ split: 'train', limit: EXAMPLES });
    const x = Array.from(data.images);
    const y = Array.from(data.labels);
    const models: Record<string, { parts: ReturnType<typeof plain>; inputShape: number[] }> = {};
    for (const [name, model, inputShape] of [
      ['mlp-small', createMnistModel('mlp-small', { seed: 1 }), [784]],
      ['small CNN', smallCnn(), [28, 28, 1]],
    ] as const) {
      models[name] = { parts: plain(partsFromModel(model)), inputShape: [...inputShape] };
      model.dispose();
    }
    const table: BenchTable = {
      title: `local training through the worker, ${EXAMPLES} MNIST examples, 1 epoch, batch 32 (examples/s)`,
      columns: ['model', 'requested', 'trained on', 'flock kernels', 'examples/s', 'ratio to cpu'],
      rows: [],
    };
    try {
      const context = await h.browser.newContext();
      await context.addInitScript(NAME_SHIM);
      const page = await context.newPage();
      await page.goto(h.origin);
      for (const [name, m] of Object.entries(models)) {
        let cpu = Number.NaN;
        for (const backend of BACKENDS) {
          const r = await page
            .evaluate(
              async ({ backend, m, x, y, repeats }) => {
                const runner = await Flock.startTrainingWorker({ backend: backend as 'wasm', timeoutMs: 60_000 });
                const job = () => ({
                  topology: m.parts.topology,
                  weightSpecs: m.parts.weightSpecs,
                  globalWeights: m.parts.weights.map((w) => new Float32Array(w)),
                  examples: { x: new Float32Array(x), y: new Int32Array(y), count: y.length, inputShape: m.inputShape },
                  plan: {
                    localEpochs: 1,
                    batchSize: 32,
                    learningRate: 0.05,
                    clipNorm: 1,
                    updateEncoding: { encoding: 'fp32' as const },
                  },
                });
                try {
                  await runner.train('warmup', job());
                  const times: number[] = [];
                  for (let i = 0; i < repeats; i++) times.push((await runner.train('bench', job())).durationMs);
                  times.sort((a, b) => a - b);
                  return {
                    backend: runner.backend,
                    kernels: runner.flockKernels.join(',') || '-',
                    ms: times[times.length >> 1],
                  };
                } finally {
                  runner.close();
                }
              },
              { backend, m, x, y, repeats: REPEATS[backend] },
            )
            .catch((error: Error) => ({
              backend: `failed: ${error.message.slice(0, 50)}`,
              kernels: '-',
              ms: Number.NaN,
            }));
          const perSecond = (y.length / r.ms) * 1000;
          if (backend === 'cpu') cpu = perSecond;
          table.rows.push({
            model: name,
            requested: backend,
            'trained on': r.backend,
            'flock kernels': r.kernels,
            'examples/s': perSecond,
            'ratio to cpu': null,
          });
        }
        for (const row of table.rows) if (row.model === name) row['ratio to cpu'] = (row['examples/s'] as number) / cpu;
      }
      table.notes = [
        'median of 3 jobs (webgpu: 1 job) after a warm-up job, durationMs measured inside the worker by trainLocalUpdate (build model, fit, delta, clip, encode)',
        'webgpu is SwiftShader (software) here; wasm without Flock kernels cannot train a conv net at all (no Conv2DBackpropFilter)',
      ];
      return [table];
    } finally {
      await h.close();
    }
  },
};

export default bench;
