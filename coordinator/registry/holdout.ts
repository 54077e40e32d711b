/**
 * Holdout sets for checking a model on examples it never trained on: one
 * codec file (fp32) with a tensor `x` of shape [n, ...inputShape] and a
 * tensor `y` of the targets, [n] (one class index, 0/1, or one regression
 * value per example) or [n, k] (multilabel: one 0/1 per label; regression
 * with k outputs). The file does not say what the targets mean: the model
 * spec's output kind does, when the holdout is scored (holdout-score.ts).
 * Reusing the codec gives the file a checksum and a decoder that already
 * refuses hostile lengths.
 */
import { decodeTensors, encodeTensors } from '../../shared/codec/index.ts';

export type HoldoutErrorCode = 'bad_holdout';

/** A holdout file that cannot be used. */
export class HoldoutError extends Error {
  readonly code: HoldoutErrorCode = 'bad_holdout';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HoldoutError';
  }
}

export interface Holdout {
  /** `count * prod(inputShape)` values. */
  x: Float32Array;
  /** `count * targetWidth` target values, example by example (readHoldout gives a Float32Array). */
  y: Float32Array | Uint8Array;
  /** Target values per example: 1 (the default) for a class index or one regression value, k for k labels or outputs. */
  targetWidth?: number;
  /** Shape of one example, without the batch dimension. */
  inputShape: number[];
  count: number;
}

/** What `writeHoldout` takes: `y` holds `targetWidth` values per example (default 1: class indices). */
export interface HoldoutInput {
  x: Float32Array;
  y: ArrayLike<number>;
  inputShape: number[];
  targetWidth?: number;
}

/**
 * Encode a holdout set.
 * @throws HoldoutError when the sizes disagree or a target is not finite
 *
 * @example
 * const { images, labels } = loadMnist({ split: 'test', limit: 1000 });
 * const bytes = writeHoldout({ x: images, y: labels, inputShape: [784] });
 * // regression with two outputs: writeHoldout({ x, y: Float32Array.of(1.5, 2, 0.25, 3), targetWidth: 2, inputShape: [8] })
 */
export function writeHoldout(holdout: HoldoutInput): Uint8Array {
  const { x, y, inputShape } = holdout;
  const width = holdout.targetWidth ?? 1;
  if (!Number.isInteger(width) || width < 1)
    throw new HoldoutError(`targetWidth must be a positive integer, got ${width}`);
  if (y.length % width !== 0)
    throw new HoldoutError(`y has ${y.length} values, not a whole number of targets of ${width}`);
  const count = y.length / width;
  const exampleSize = inputShape.reduce((n, d) => n * d, 1);
  if (inputShape.length === 0 || exampleSize < 1 || x.length !== count * exampleSize) {
    throw new HoldoutError(
      `x has ${x.length} values but ${count} examples of shape [${inputShape.join(', ')}] need ${count * exampleSize}`,
    );
  }
  const targets = Float32Array.from(y);
  const bad = targets.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new HoldoutError(`target value ${bad} is ${targets[bad]}; targets must be finite numbers`);
  return encodeTensors(
    [
      { name: 'x', shape: [count, ...inputShape], data: x },
      { name: 'y', shape: width === 1 ? [count] : [count, width], data: targets },
    ],
    { encoding: 'fp32' },
  );
}

/**
 * Decode and validate a holdout file.
 * @throws HoldoutError
 *
 * @example
 * const holdout = readHoldout(await readFile('holdout.flkt'));
 */
export function readHoldout(bytes: Uint8Array): Holdout {
  let tensors;
  try {
    tensors = decodeTensors(bytes);
  } catch (err) {
    throw new HoldoutError(
      `the holdout file does not decode (${(err as Error).message}); write it with writeHoldout()`,
      { cause: err },
    );
  }
  const x = tensors.find((t) => t.name === 'x');
  const y = tensors.find((t) => t.name === 'y');
  if (tensors.length !== 2 || !x || !y) {
    throw new HoldoutError(
      `a holdout holds exactly the tensors "x" and "y", found ${tensors.map((t) => `"${t.name}"`).join(', ') || 'none'}`,
    );
  }
  if (y.shape.length < 1 || y.shape.length > 2 || x.shape.length < 2 || x.shape[0] !== y.shape[0] || y.shape[1] === 0) {
    throw new HoldoutError(
      `holdout x is [${x.shape.join(', ')}] and y is [${y.shape.join(', ')}]; y must be [n] or [n, k] and x [n, ...inputShape]`,
    );
  }
  const count = y.shape[0];
  if (count === 0) throw new HoldoutError('the holdout has no examples');
  return { x: x.data, y: y.data, targetWidth: y.shape[1] ?? 1, inputShape: x.shape.slice(1), count };
}

/**
 * Refuses a holdout whose examples are not the shape `inputShape` (a model's
 * input shape with its batch dimension, `null` for any size) takes.
 * @throws HoldoutError naming both shapes and `model`
 *
 * @example
 * assertHoldoutFits(holdout, pkg.inputSpec.shape, 'the model'); // [null, 784] takes [784]
 */
export function assertHoldoutFits(holdout: Holdout, inputShape: readonly (number | null)[], model: string): void {
  const expected = inputShape.slice(1);
  const fits =
    expected.length === holdout.inputShape.length &&
    expected.every((d, i) => d === null || d === holdout.inputShape[i]);
  if (!fits) {
    throw new HoldoutError(
      `holdout examples are [${holdout.inputShape.join(', ')}] but ${model} takes [${expected.map((d) => d ?? 'any').join(', ')}]; use a holdout made for it`,
    );
  }
}
