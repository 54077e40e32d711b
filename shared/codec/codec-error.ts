/**
 * The one error type the codec throws. Decoding untrusted bytes must never leak
 * a RangeError or TypeError from a typed-array constructor: every failure is a
 * `CodecError` whose `code` a caller can switch on (for example to answer an
 * upload with 400 `bad_checksum` rather than 500).
 */

/** Why encoding or decoding failed. */
export type CodecErrorCode =
  | 'truncated'
  | 'bad_magic'
  | 'unsupported_version'
  | 'bad_checksum'
  | 'bad_header'
  | 'limit_exceeded'
  | 'length_mismatch'
  | 'non_finite'
  | 'bad_encoding'
  | 'bad_input';

/**
 * A codec failure with a machine-readable code and optional details.
 *
 * @example
 * try { decodeTensors(bytes); } catch (e) {
 *   if (e instanceof CodecError && e.code === 'bad_checksum') askClientToResend();
 * }
 */
export class CodecError extends Error {
  readonly code: CodecErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: CodecErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'CodecError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}
