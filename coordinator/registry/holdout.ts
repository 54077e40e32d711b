/**
 * Holdout sets for checking variant accuracy: one codec file (fp32) with a
 * tensor `x` of shape [n, ...inputShape] and a tensor `y` of shape [n] holding
 * class labels as floats. Reusing the codec gives the file a checksum and a
 * decoder that already refuses hostile lengths.
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
  /** One class label (0..255) per example. */
  y: Uint8Array;
  /** Shape of one example, without the batch dimension. */
  inputShape: number[];
  count: number;
}

/**
 * Encode a holdout set.
 *
 * @example
 * const { images, labels } = loadMnist({ split: 'test', limit: 1000 });
 * const bytes = writeHoldout({ x: images, y: labels, inputShape: [784] });
 */
export function writeHoldout(holdout: Omit<Holdout, 'count'>): Uint8Array {
  const { x, y, inputShape } = holdout;
  const count = y.length;
  const exampleSize = inputShape.reduce((n, d) => n * d, 1);
  if (inputShape.length === 0 || exampleSize < 1 || x.length !== count * exampleSize) {
    throw new HoldoutError(
      `x has ${x.length} values but ${count} examples of shape [${inputShape.join(', ')}] need ${count * exampleSize}`,
    );
  }
  return encodeTensors(
    [
      { name: 'x', shape: [count, ...inputShape], data: x },
      { name: 'y', shape: [count], data: Float32Array.from(y) },
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
  if (y.shape.length !== 1 || x.shape.length < 2 || x.shape[0] !== y.shape[0]) {
    throw new HoldoutError(
      `holdout x is [${x.shape.join(', ')}] and y is [${y.shape.join(', ')}]; y must be [n] and x [n, ...inputShape]`,
    );
  }
  const count = y.shape[0];
  if (count === 0) throw new HoldoutError('the holdout has no examples');
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = y.data[i];
    if (!Number.isInteger(label) || label < 0 || label > 255) {
      throw new HoldoutError(`holdout label ${i} is ${label}; labels are class indices 0..255`);
    }
    labels[i] = label;
  }
  return { x: x.data, y: labels, inputShape: x.shape.slice(1), count };
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
