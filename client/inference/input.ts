/**
 * Turning whatever the app hands to `predict` into one flat, validated example
 * vector matching the model's declared input spec. Every rejection is a
 * `FlockInputError` naming the expected shape.
 */
import * as tf from '@tensorflow/tfjs';
import { FlockInputError } from './input-error.ts';
import type { RawInput } from './raw-input.ts';

/** The model's input as the manifest declares it; a leading null is the batch dimension. */
export interface PredictInputSpec {
  shape: readonly (number | null)[];
  dtype: 'float32' | 'int32';
}

/** The fields of `ImageData` Flock reads (so an OffscreenCanvas or Node fake works too). */
export interface ImageDataLike {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** What `predict` accepts. */
export type PredictInput = Float32Array | number[] | tf.Tensor | ImageDataLike;

/** One example's shape and size, derived from the spec. */
export interface ExampleLayout {
  exampleShape: number[];
  size: number;
  dtype: 'float32' | 'int32';
}

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * The per-example layout of `spec`.
 * @throws RangeError when a dimension other than the leading batch one is free (cannot be batched)
 *
 * @example
 * exampleLayout({ shape: [null, 28, 28, 1], dtype: 'float32' }) // { exampleShape: [28, 28, 1], size: 784, ... }
 */
export function exampleLayout(spec: PredictInputSpec): ExampleLayout {
  const dims = spec.shape[0] === null ? spec.shape.slice(1) : spec.shape.slice();
  if (dims.length === 0 || dims.some((d) => d === null || !Number.isInteger(d) || d < 1)) {
    throw new RangeError(
      `input spec [${spec.shape.join(', ')}] must have fixed positive dimensions after the leading batch dimension (null); free inner dimensions cannot be micro-batched`,
    );
  }
  const exampleShape = dims as number[];
  return { exampleShape, size: exampleShape.reduce((a, b) => a * b, 1), dtype: spec.dtype };
}

function isImageDataLike(input: unknown): input is ImageDataLike {
  return (
    typeof input === 'object' &&
    input !== null &&
    (input as ImageDataLike).data instanceof Uint8ClampedArray &&
    typeof (input as ImageDataLike).width === 'number' &&
    typeof (input as ImageDataLike).height === 'number'
  );
}

/** Grayscale (luma, [0, 1]) or RGB ([0, 1]) pixels of an RGBA image into `out` at `at`; alpha is ignored. */
function imageInto(image: ImageDataLike, layout: ExampleLayout, out: Float32Array, at: number): void {
  const { exampleShape: s } = layout;
  const { width: w, height: h } = image;
  const expected = `a ${shapeText(s)} input`;
  if (image.data.length !== w * h * 4) {
    throw new FlockInputError(
      'shape_mismatch',
      `${w * h * 4} RGBA bytes for a ${w}x${h} image`,
      `${image.data.length} bytes`,
    );
  }
  let channels: 1 | 3;
  let rows: number;
  let cols: number;
  if (s.length === 3 && (s[2] === 1 || s[2] === 3)) [rows, cols, channels] = [s[0], s[1], s[2] as 1 | 3];
  else if (s.length === 2) [rows, cols, channels] = [s[0], s[1], 1];
  else if (s.length === 1) [rows, cols, channels] = [h, s[0] / h, 1];
  else {
    throw new FlockInputError(
      'unsupported_input',
      expected,
      `an ImageData-like ${w}x${h} image`,
      'images fit only [h, w, 1], [h, w, 3], [h, w] or [h*w] inputs; pass a Float32Array',
    );
  }
  if (rows !== h || cols !== w) {
    throw new FlockInputError(
      'shape_mismatch',
      s.length === 1 ? `an image of ${s[0]} pixels` : `a ${cols}x${rows} image`,
      `a ${w}x${h} image`,
      `draw it into a canvas of that size first`,
    );
  }
  const px = image.data;
  for (let i = 0, p = 0; i < w * h; i++, p += 4) {
    if (channels === 1) out[at + i] = (0.299 * px[p] + 0.587 * px[p + 1] + 0.114 * px[p + 2]) / 255;
    else {
      out[at + 3 * i] = px[p] / 255;
      out[at + 3 * i + 1] = px[p + 1] / 255;
      out[at + 3 * i + 2] = px[p + 2] / 255;
    }
  }
}

/**
 * Throws for a non-finite value (or a non-integer for an int32 model) among the
 * example at `values[at .. at + layout.size)`. The
 * float32 scan adds v * 0 in four lanes (0 for every finite v, NaN
 * otherwise), with no branch per value; only an input that fails is scanned
 * again for the index to name. Issue 15: this runs on every predict().
 */
function checkValues(values: Float32Array, at: number, layout: ExampleLayout): void {
  const end = at + layout.size;
  if (layout.dtype !== 'int32') {
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    const end4 = at + (layout.size & ~3);
    for (let i = at; i < end4; i += 4) {
      a += values[i] * 0;
      b += values[i + 1] * 0;
      c += values[i + 2] * 0;
      d += values[i + 3] * 0;
    }
    for (let i = end4; i < end; i++) a += values[i] * 0;
    if (a + b + c + d === 0) return;
  }
  for (let i = at; i < end; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      throw new FlockInputError('non_finite', 'finite numbers', `${v} at index ${i - at}`);
    }
    if (layout.dtype === 'int32' && !Number.isInteger(v)) {
      throw new FlockInputError('dtype_mismatch', 'integers (the model input is int32)', `${v} at index ${i - at}`);
    }
  }
}

/**
 * Validate `input` against `layout` and return a fresh flat Float32Array of
 * `layout.size` values. Tensors are read, never disposed (the caller owns them).
 *
 * @example
 * const x = await toExampleVector(imageData, exampleLayout(manifest.inputSpec)); // grayscale in [0, 1]
 * @throws FlockInputError
 */
export async function toExampleVector(input: PredictInput | RawInput, layout: ExampleLayout): Promise<Float32Array> {
  return exampleVectorNow(input, layout) ?? tensorExampleVector(input as tf.Tensor, layout);
}

/**
 * `toExampleVector` without a promise for every input but a tensor (whose
 * values must be awaited): null for a tensor. predict() calls this first, so
 * an array or image input costs no extra microtask hops (issue 15).
 *
 * @example
 * const x = exampleVectorNow(new Float32Array(784), layout) ?? (await toExampleVector(input, layout));
 * @throws FlockInputError
 */
export function exampleVectorNow(input: PredictInput | RawInput, layout: ExampleLayout): Float32Array | null {
  const out = new Float32Array(layout.size);
  return exampleVectorInto(input, layout, out, 0) ? out : null;
}

/**
 * `exampleVectorNow` into `out[at .. at + layout.size)` instead of a fresh
 * array: false (nothing written) for a tensor. predict() writes into its
 * reused staging buffer: in Chromium a fresh 784-float Float32Array (an
 * off-heap ArrayBuffer) cost ~30 µs, a quarter of a wasm forward pass of the
 * demo model (issue 15). On a FlockInputError the slot holds garbage.
 *
 * @example
 * const staging = new Float32Array(32 * layout.size);
 * if (!exampleVectorInto(pixels, layout, staging, 3 * layout.size)) await toExampleVector(pixels, layout);
 * @throws FlockInputError
 */
export function exampleVectorInto(
  input: PredictInput | RawInput,
  layout: ExampleLayout,
  out: Float32Array,
  at: number,
): boolean {
  const { exampleShape, size } = layout;
  if (input instanceof Float32Array || Array.isArray(input)) {
    const expected = `${size} values (shape ${shapeText(exampleShape)})`;
    if (Array.isArray(input) && input.some((v) => typeof v !== 'number')) {
      throw new FlockInputError(
        'unsupported_input',
        `a flat array of ${expected}`,
        'an array holding non-numbers',
        'flatten nested arrays first',
      );
    }
    if (input.length !== size) {
      throw new FlockInputError('shape_mismatch', expected, `${input.length} values`);
    }
    // set() copies a typed array with memcpy (and converts a number[] without the iterator protocol).
    out.set(input, at);
    checkValues(out, at, layout);
    return true;
  }
  if (input instanceof tf.Tensor) return false;
  if (isImageDataLike(input)) {
    imageInto(input, layout, out, at);
    checkValues(out, at, layout);
    return true;
  }
  // Raw text or a record reaches here only for a model without a preprocessing spec.
  throw new FlockInputError(
    'unsupported_input',
    `a Float32Array, number[], tf.Tensor or ImageData of ${size} values (shape ${shapeText(exampleShape)})`,
    input === null
      ? 'null'
      : typeof input === 'object'
        ? `an object (${Object.prototype.toString.call(input)})`
        : `a ${typeof input}`,
  );
}

async function tensorExampleVector(input: tf.Tensor, layout: ExampleLayout): Promise<Float32Array> {
  const { exampleShape } = layout;
  const shape = input.shape;
  const matches = (s: readonly number[]) =>
    s.length === exampleShape.length && s.every((d, i) => d === exampleShape[i]);
  if (!(matches(shape) || (shape[0] === 1 && matches(shape.slice(1))))) {
    throw new FlockInputError(
      'shape_mismatch',
      `a tensor of shape ${shapeText(exampleShape)} or [1, ${exampleShape.join(', ')}]`,
      `shape ${shapeText(shape)}`,
    );
  }
  if (input.dtype !== 'float32' && input.dtype !== 'int32') {
    throw new FlockInputError('dtype_mismatch', 'a float32 or int32 tensor', `a ${input.dtype} tensor`);
  }
  const data = await input.data();
  const out = Float32Array.from(data as Float32Array | Int32Array);
  checkValues(out, 0, layout);
  return out;
}
