/**
 * A raw input the preprocessing spec cannot turn into features. It names the
 * field (or 'image' / 'text') and says what was expected, so an app gets a
 * clear error instead of a NaN prediction.
 */
export type PreprocessInputErrorCode = 'wrong_kind' | 'missing_field' | 'bad_value' | 'bad_image';

export class PreprocessInputError extends Error {
  override readonly name = 'PreprocessInputError';
  constructor(
    readonly code: PreprocessInputErrorCode,
    /** The field at fault: a tabular field name, or 'image' / 'text'. */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
