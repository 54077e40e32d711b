/**
 * Preprocessing shipped with a model version (see spec.ts): one
 * implementation for the page, the workers, the coordinator and the simulator.
 */
export { compilePreprocess, featureCount, featureShape, type Preprocessor } from './apply.ts';
export { imageFeatures, type RawImage } from './image.ts';
export { PreprocessInputError, type PreprocessInputErrorCode } from './input-error.ts';
export { murmur3_32 } from './murmur3.ts';
export {
  PREPROCESS_SPEC_VERSION,
  PreprocessSpecSchema,
  type ImagePreprocess,
  type PreprocessInput,
  type PreprocessSpec,
  type TabularField,
  type TabularPreprocess,
  type TextPreprocess,
} from './spec.ts';
export { fitTabular, tabularFeatures } from './tabular.ts';
export { fitText, normalizeText, textFeatures, tokenize } from './text.ts';
