/**
 * The typed error of model-package validation. An admin route maps it to a 422
 * (413 for `too_large`) with the message, which always says what to fix.
 */

export type ModelPackageErrorCode =
  | 'missing_model_json'
  | 'bad_model_json'
  | 'missing_weights'
  | 'weights_size_mismatch'
  | 'too_large'
  | 'topology_mismatch'
  | 'non_finite_weights'
  | 'load_failed'
  | 'unsupported_model'
  | 'bad_variant'
  | 'bad_model_spec';

/**
 * A rejected model package.
 *
 * @example
 * try { await readModelDirectory(dir); } catch (e) {
 *   if (e instanceof ModelPackageError) console.error(`${e.code}: ${e.message}`);
 * }
 */
export class ModelPackageError extends Error {
  readonly code: ModelPackageErrorCode;
  constructor(code: ModelPackageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelPackageError';
    this.code = code;
  }
}
