/**
 * Local training on tfjs-backend-wasm with Flock's gradient kernels
 * (client/backends/wasm-training-kernels) against the cpu backend, the next
 * backend that can train a CNN in Node, measured in the same run:
 * examples/s of one SGD step for the FedAvg MNIST CNN and the 2NN MLP, and
 * the Conv2DBackpropFilter kernel alone at the CNN's two layer shapes, with
 * wasm's own native Conv2DBackpropInput (C++) at the same shape as a
 * reference for what a built-in wasm gradient kernel costs.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../client/backends/wasm-training-kernels/index.ts';
import { readMnistTraining, useWasmBackendInNode } from '../../client/backends/wasm-training-kernels/test-fixtures.ts';
import { median, timeRepeated, type Benchmark, type BenchTable } from './bench-types.ts';

type ModelKind = 'cnn' | 'mlp';
type BackendName = 'wasm' | 'cpu';
interface Timing {
  repeats: number;
  warmup: number;
}
// A cpu CNN step takes 14-22 s here (its Conv2DBackpropFilter alone ~13 s at
// batch 10), so cpu CNN and cpu kernel figures are single runs and the CNN runs
// on cpu only at batch 10; this keeps the whole benchmark under a minute.
const ONCE: Timing = { repeats: 1, warmup: 0 };
const ONCE_WARM: Timing = { repeats: 1, warmup: 1 };

function buildModel(kind: ModelKind): tf.Sequential {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const layers =
    kind === 'cnn'
      ? [
          tf.layers.conv2d({
            inputShape: [28, 28, 1],
            filters: 32,
            kernelSize: 5,
            padding: 'same',
            activation: 'relu',
            kernelInitializer: init(1),
          }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.conv2d({
            filters: 64,
            kernelSize: 5,
            padding: 'same',
            activation: 'relu',
            kernelInitializer: init(2),
          }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 512, activation: 'relu', kernelInitializer: init(3) }),
          tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(4) }),
        ]
      : [
          tf.layers.dense({ inputShape: [784], units: 200, activation: 'relu', kernelInitializer: init(1) }),
          tf.layers.dense({ units: 200, activation: 'relu', kernelInitializer: init(2) }),
          tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(3) }),
        ];
  const model = tf.sequential({ layers });
  model.compile({ optimizer: tf.train.sgd(0.05), loss: 'sparseCategoricalCrossentropy' });
  return model;
}

/** Median milliseconds of one trainOnBatch on real MNIST examples. */
async function trainStepMs(
  backend: BackendName,
  kind: ModelKind,
  batch: number,
  { repeats, warmup }: Timing,
): Promise<number> {
  await tf.setBackend(backend);
  const { images, labels } = readMnistTraining(batch);
  const model = buildModel(kind);
  const xs = kind === 'cnn' ? tf.tensor4d(images, [batch, 28, 28, 1]) : tf.tensor2d(images, [batch, 784]);
  const ys = tf.tensor1d(Float32Array.from(labels));
  const times = await timeRepeated(() => model.trainOnBatch(xs, ys), { repeats, warmup });
  model.dispose();
  xs.dispose();
  ys.dispose();
  return median(times);
}

async function training(): Promise<BenchTable> {
  const plans: Array<{ kind: ModelKind; batch: number; wasm: Timing; cpu: Timing | null }> = [
    { kind: 'cnn', batch: 10, wasm: { repeats: 7, warmup: 1 }, cpu: ONCE_WARM },
    { kind: 'cnn', batch: 32, wasm: { repeats: 5, warmup: 1 }, cpu: null },
    { kind: 'mlp', batch: 10, wasm: { repeats: 30, warmup: 3 }, cpu: { repeats: 15, warmup: 3 } },
    { kind: 'mlp', batch: 32, wasm: { repeats: 30, warmup: 3 }, cpu: { repeats: 15, warmup: 3 } },
  ];
  const rows: BenchTable['rows'] = [];
  // examples/s of the latest cpu row per model, the baseline for rows without their own.
  const cpuRate = new Map<ModelKind, number>();
  for (const plan of plans) {
    const model = plan.kind === 'cnn' ? 'MNIST CNN' : '2NN MLP';
    if (plan.cpu) {
      const cpuMs = await trainStepMs('cpu', plan.kind, plan.batch, plan.cpu);
      cpuRate.set(plan.kind, (plan.batch * 1000) / cpuMs);
      rows.push({
        model,
        batch: plan.batch,
        backend: 'cpu (baseline)',
        'ms/step': cpuMs,
        'examples/s': (plan.batch * 1000) / cpuMs,
        'ratio vs cpu': 1,
      });
    }
    const wasmMs = await trainStepMs('wasm', plan.kind, plan.batch, plan.wasm);
    const rate = (plan.batch * 1000) / wasmMs;
    rows.push({
      model,
      batch: plan.batch,
      backend: 'wasm + Flock kernels',
      'ms/step': wasmMs,
      'examples/s': rate,
      'ratio vs cpu': rate / (cpuRate.get(plan.kind) ?? Number.NaN),
    });
  }
  return {
    title: 'Local training throughput, one SGD step (trainOnBatch) on real MNIST',
    columns: ['model', 'batch', 'backend', 'ms/step', 'examples/s', 'ratio vs cpu'],
    rows,
    notes: [
      'ratio vs cpu = examples/s on wasm with Flock kernels / examples/s on cpu, same run; > 1 means wasm is faster.',
      'CNN batch 32 has no cpu row (one cpu step ~60 s); its ratio is against the cpu batch-10 row (cpu examples/s barely depends on batch).',
      'cpu CNN: one step after one warm-up step; wasm and MLP rows: median of repeats after warm-up steps.',
      'Without Flock kernels the CNN cannot train on wasm at all (Conv2DBackpropFilter not registered); the MLP needs none.',
      `wasm: SIMD ${String(tf.env().getBool('WASM_HAS_SIMD_SUPPORT'))}, threads ${getThreadsCount()}.`,
    ],
  };
}

interface KernelShape {
  layer: string;
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
}

async function kernelMs(
  backend: BackendName,
  kernel: 'Conv2DBackpropFilter' | 'Conv2DBackpropInput',
  shape: KernelShape,
  timing: Timing,
): Promise<number> {
  await tf.setBackend(backend);
  const x = tf.randomNormal(shape.xShape, 0, 1, 'float32', 1);
  const filter = tf.randomNormal(shape.filterShape, 0, 1, 'float32', 2);
  const dy = tf.randomNormal(
    [shape.xShape[0], shape.xShape[1], shape.xShape[2], shape.filterShape[3]],
    0,
    1,
    'float32',
    3,
  );
  const common = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC' } as const;
  const run = (): void => {
    const out =
      kernel === 'Conv2DBackpropFilter'
        ? (tf.engine().runKernel(kernel, { x, dy }, { ...common, filterShape: shape.filterShape }) as tf.Tensor)
        : (tf.engine().runKernel(kernel, { dy, filter }, { ...common, inputShape: shape.xShape }) as tf.Tensor);
    out.dataSync();
    out.dispose();
  };
  const times = await timeRepeated(run, timing);
  tf.dispose([x, filter, dy]);
  return median(times);
}

async function kernels(): Promise<BenchTable> {
  // Batch 4 keeps the cpu conv2 run near 5 s.
  const batch = 4;
  const shapes: KernelShape[] = [
    { layer: 'conv1 5x5x1x32 on 28x28', xShape: [batch, 28, 28, 1], filterShape: [5, 5, 1, 32] },
    { layer: 'conv2 5x5x32x64 on 14x14', xShape: [batch, 14, 14, 32], filterShape: [5, 5, 32, 64] },
  ];
  const rows: BenchTable['rows'] = [];
  for (const shape of shapes) {
    const macs = tf.util.sizeFromShape(shape.xShape.slice(0, 3)) * tf.util.sizeFromShape(shape.filterShape);
    const cpuMs = await kernelMs('cpu', 'Conv2DBackpropFilter', shape, ONCE);
    const oursMs = await kernelMs('wasm', 'Conv2DBackpropFilter', shape, { repeats: 9, warmup: 2 });
    const nativeMs = await kernelMs('wasm', 'Conv2DBackpropInput', shape, { repeats: 9, warmup: 2 });
    const row = (impl: string, ms: number) => ({
      layer: shape.layer,
      batch,
      implementation: impl,
      ms,
      'GFLOP/s': (2 * macs) / ms / 1e6,
      'ratio vs cpu': cpuMs / ms,
    });
    rows.push(row('cpu Conv2DBackpropFilter (baseline)', cpuMs));
    rows.push(row('wasm Flock Conv2DBackpropFilter', oursMs));
    rows.push(row('wasm native Conv2DBackpropInput (reference)', nativeMs));
  }
  return {
    title: 'Conv2DBackpropFilter alone (stride 1, same), Flock wasm kernel vs cpu',
    columns: ['layer', 'batch', 'implementation', 'ms', 'GFLOP/s', 'ratio vs cpu'],
    rows,
    notes: [
      'ratio vs cpu = cpu ms / ms; includes reading the result back (dataSync). cpu: one run, no warm-up; wasm: median of 9 after 2 warm-up runs.',
      "The reference row is tfjs-backend-wasm's own C++ input-gradient kernel at the same conv shape and cost in MACs.",
    ],
  };
}

const benchmark: Benchmark = {
  name: 'wasm-training',
  run: async () => {
    await useWasmBackendInNode();
    registerWasmTrainingKernels();
    return [await kernels(), await training()];
  },
};

export default benchmark;
