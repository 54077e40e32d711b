/**
 * The error `predict` throws for an input that does not fit the model: it
 * says what was expected and what arrived, so the app developer can fix the
 * call without reading Flock's source.
 */

export type FlockInputErrorCode =
  | 'shape_mismatch'
  | 'non_finite'
  | 'unsupported_input'
  | 'dtype_mismatch'
  | 'bad_raw_input'
  | 'bad_target';

/**
 * A rejected `predict` input.
 *
 * @example
 * try { await predictor.predict(pixels); } catch (e) {
 *   if (e instanceof FlockInputError) console.warn(e.expected, e.received);
 * }
 */
export class FlockInputError extends Error {
  readonly code: FlockInputErrorCode;
  /** What the model's input spec wants, in words (e.g. "784 values (shape [28, 28, 1])"). */
  readonly expected: string;
  /** What arrived, in words. */
  readonly received: string;
  /** The field at fault for raw input (a tabular field name, 'text', 'image' or 'target'), when one is. */
  readonly field?: string;

  constructor(code: FlockInputErrorCode, expected: string, received: string, hint = '', field?: string) {
    super(
      `${code === 'bad_target' ? 'record target' : 'predict input'} rejected${field ? ` (field ${field})` : ''}: expected ${expected}, got ${received}${hint ? `; ${hint}` : ''}`,
    );
    this.name = 'FlockInputError';
    this.code = code;
    this.expected = expected;
    this.received = received;
    if (field !== undefined) this.field = field;
  }
}
