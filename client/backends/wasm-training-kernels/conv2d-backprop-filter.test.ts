/**
 * Flock's wasm Conv2DBackpropFilter against tfjs-backend-cpu's for random
 * inputs across shapes, strides, paddings and data formats.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { Conv2DBackpropFilterAttrs } from '@tensorflow/tfjs';
import { makeConv2dBackpropFilterWasm } from './conv2d-backprop-filter.ts';
import { registerWasmTrainingKernels } from './register.ts';
import { firstMismatch, useWasmBackendInNode } from './test-fixtures.ts';

/** Small deterministic PRNG (mulberry32) so failures reproduce. */
function randomFloats(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

interface Case {
  name: string;
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  strides: [number, number];
  pad: Conv2DBackpropFilterAttrs['pad'];
  dataFormat: 'NHWC' | 'NCHW';
}

const cases: Case[] = [
  {
    name: 'NHWC 3x3 stride 1 same',
    xShape: [2, 9, 9, 3],
    filterShape: [3, 3, 3, 4],
    strides: [1, 1],
    pad: 'same',
    dataFormat: 'NHWC',
  },
  {
    name: 'NHWC 2x2 stride 2 valid, odd width',
    xShape: [3, 11, 10, 2],
    filterShape: [3, 2, 2, 5],
    strides: [2, 2],
    pad: 'valid',
    dataFormat: 'NHWC',
  },
  {
    name: 'NHWC 5x5 stride 2 same, uneven padding',
    xShape: [2, 8, 7, 3],
    filterShape: [5, 5, 3, 2],
    strides: [2, 2],
    pad: 'same',
    dataFormat: 'NHWC',
  },
  {
    name: 'NHWC explicit pads, strides [2,1]',
    xShape: [2, 7, 6, 2],
    filterShape: [3, 3, 2, 3],
    strides: [2, 1],
    pad: [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
    dataFormat: 'NHWC',
  },
  {
    name: 'NHWC filter larger than stride, valid',
    xShape: [1, 6, 6, 4],
    filterShape: [4, 4, 4, 6],
    strides: [3, 3],
    pad: 'valid',
    dataFormat: 'NHWC',
  },
  {
    name: 'NCHW 3x3 stride 1 same',
    xShape: [2, 3, 8, 8],
    filterShape: [3, 3, 3, 4],
    strides: [1, 1],
    pad: 'same',
    dataFormat: 'NCHW',
  },
  {
    name: 'NCHW 3x3 stride 2 valid',
    xShape: [2, 2, 9, 7],
    filterShape: [3, 3, 2, 3],
    strides: [2, 2],
    pad: 'valid',
    dataFormat: 'NCHW',
  },
  {
    name: 'MNIST CNN layer 1 (5x5x1x32 same)',
    xShape: [3, 28, 28, 1],
    filterShape: [5, 5, 1, 32],
    strides: [1, 1],
    pad: 'same',
    dataFormat: 'NHWC',
  },
  {
    name: 'MNIST CNN layer 2 (5x5x32x64 same)',
    xShape: [2, 14, 14, 32],
    filterShape: [5, 5, 32, 64],
    strides: [1, 1],
    pad: 'same',
    dataFormat: 'NHWC',
  },
];

function attrsOf(c: Case): Conv2DBackpropFilterAttrs {
  return { strides: c.strides, pad: c.pad, dataFormat: c.dataFormat, filterShape: c.filterShape };
}

function dyShapeOf(c: Case): number[] {
  const info = tf.backend_util.computeConv2DInfo(
    c.xShape,
    c.filterShape,
    c.strides,
    1,
    c.pad,
    undefined,
    false,
    tf.backend_util.convertConv2DDataFormat(c.dataFormat),
  );
  return info.outShape;
}

/** Runs the registered Conv2DBackpropFilter kernel on the current backend. */
function runKernel(c: Case, xValues: Float32Array, dyValues: Float32Array): Float32Array {
  return tf
    .tidy(() => {
      const x = tf.tensor(xValues, c.xShape);
      const dy = tf.tensor(dyValues, dyShapeOf(c));
      const dw = tf
        .engine()
        .runKernel('Conv2DBackpropFilter', { x, dy }, attrsOf(c) as unknown as tf.NamedAttrMap) as tf.Tensor;
      expect(dw.shape).toEqual(c.filterShape);
      return dw;
    })
    .dataSync() as Float32Array;
}

function inputsOf(c: Case, seed: number): { x: Float32Array; dy: Float32Array } {
  const dyShape = dyShapeOf(c);
  return {
    x: randomFloats(tf.util.sizeFromShape(c.xShape), seed),
    dy: randomFloats(tf.util.sizeFromShape(dyShape), seed + 1),
  };
}

async function onCpu(c: Case, x: Float32Array, dy: Float32Array): Promise<Float32Array> {
  await tf.setBackend('cpu');
  return runKernel(c, x, dy);
}

describe('Conv2DBackpropFilter on wasm (Flock kernel) vs cpu', () => {
  beforeAll(async () => {
    registerWasmTrainingKernels();
    await useWasmBackendInNode();
  });

  it.each(cases)('$name', async (c) => {
    const { x, dy } = inputsOf(c, 17 + c.xShape.reduce((a, b) => a * 31 + b, 0));
    const expected = await onCpu(c, x, dy);
    await tf.setBackend('wasm');
    const actual = runKernel(c, x, dy);
    expect(firstMismatch(actual, expected)).toBeNull();
    // Guard against a vacuous pass on an all-zero gradient.
    expect(expected.some((v) => Math.abs(v) > 0.1)).toBe(true);
  });

  it('gives the same gradient when the batch is split into one-example chunks', async () => {
    const c = cases[2];
    const { x, dy } = inputsOf(c, 99);
    const expected = await onCpu(c, x, dy);
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const chunked = makeConv2dBackpropFilterWasm(1);
    const before = backend.numDataIds();
    const xt = tf.tensor(x, c.xShape);
    const dyt = tf.tensor(dy, dyShapeOf(c));
    const out = chunked({ inputs: { x: xt, dy: dyt }, backend, attrs: attrsOf(c) });
    const actual = backend.readSync(out.dataId) as Float32Array;
    expect(out.shape).toEqual(c.filterShape);
    expect(firstMismatch(actual, expected)).toBeNull();
    backend.disposeData(out.dataId);
    xt.dispose();
    dyt.dispose();
    // Temporary im2col / product buffers of every chunk were freed.
    expect(backend.numDataIds()).toBe(before);
  });

  it('returns zeros for an empty batch', async () => {
    await tf.setBackend('wasm');
    const c: Case = { ...cases[0], xShape: [0, 9, 9, 3] };
    const actual = runKernel(c, new Float32Array(0), new Float32Array(0));
    expect(actual.length).toBe(3 * 3 * 3 * 4);
    expect(actual.every((v) => v === 0)).toBe(true);
  });
});
