/**
 * One entry point for every place examples meet a model: the spec's kind
 * picks the transform, and `featureShape` says what the model must accept.
 */
import { imageFeatures, imageWidth } from './image.ts';
import { PreprocessSpecSchema, type PreprocessInput, type PreprocessSpec } from './spec.ts';
import { tabularFeatures, tabularWidth } from './tabular.ts';
import { bucketer, textFeatures, textWidth } from './text.ts';

/** The per-example feature shape the model's input must have (after its batch dimension). */
export function featureShape(spec: PreprocessSpec): number[] {
  const input = spec.input;
  if (input.kind === 'image') return [input.height, input.width, input.channels];
  return [input.kind === 'text' ? textWidth(input) : tabularWidth(input)];
}

export function featureCount(input: PreprocessInput): number {
  return input.kind === 'image' ? imageWidth(input) : input.kind === 'text' ? textWidth(input) : tabularWidth(input);
}

/** A compiled spec: validated once, vocabulary index built once, then applied per example. */
export interface Preprocessor {
  spec: PreprocessSpec;
  shape: number[];
  /** @throws PreprocessInputError naming the field */
  apply(raw: unknown): Float32Array;
}

/**
 * @throws ZodError when `spec` is not a valid preprocessing spec
 *
 * @example
 * const p = compilePreprocess(version.preprocess);
 * const x = p.apply('WIN A FREE CRUISE!!!'); // Float32Array of p.shape
 */
export function compilePreprocess(spec: unknown): Preprocessor {
  const parsed = PreprocessSpecSchema.parse(spec);
  const input = parsed.input;
  const shape = featureShape(parsed);
  if (input.kind === 'text') {
    const bucket = bucketer(input);
    return { spec: parsed, shape, apply: (raw) => textFeatures(input, raw, bucket) };
  }
  if (input.kind === 'tabular') return { spec: parsed, shape, apply: (raw) => tabularFeatures(input, raw) };
  return { spec: parsed, shape, apply: (raw) => imageFeatures(input, raw) };
}
