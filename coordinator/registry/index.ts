/**
 * The model-package side of the registry: validate uploaded tfjs models, derive
 * quantized delivery variants, gate them on holdout accuracy, and train the
 * demo's seed model. No HTTP and no storage here; routes and the store call in.
 */
export { ModelPackageError } from './model-package-error.ts';
export type { ModelPackageErrorCode } from './model-package-error.ts';
export { DEFAULT_MODEL_PACKAGE_LIMITS, parseModelJson, readModelFiles } from './model-files.ts';
export type { ModelJson, ModelPackage, ModelPackageLimits } from './model-files.ts';
export { readModelDirectory, writeModelDirectory } from './model-directory.ts';
export { canonicalJson, topologyHash } from './topology-hash.ts';
export { DEFAULT_SHARD_BYTES, VARIANT_ENCODINGS, deriveVariants, shardBytes, weightsFromVariant } from './variants.ts';
export type { ModelVariant, VariantEncoding } from './variants.ts';
export { HoldoutError, readHoldout, writeHoldout } from './holdout.ts';
export type { Holdout, HoldoutErrorCode, HoldoutInput } from './holdout.ts';
export { assertHoldoutTargetsFit, holdoutMetrics, scoreHoldout } from './holdout-score.ts';
export type { HoldoutMetric, HoldoutScore } from './holdout-score.ts';
export { checkVariantAccuracy, checkVariantHoldout, regressionErrorScale } from './variant-accuracy.ts';
export type {
  VariantAccuracy,
  VariantAccuracyReport,
  VariantError,
  VariantErrorReport,
  VariantHoldoutReport,
} from './variant-accuracy.ts';
