/**
 * The accuracy gate for quantized variants: each variant is decoded, loaded as
 * a real tfjs model and evaluated on the holdout next to the fp32 original.
 * A variant losing more than `maxAccuracyDrop` (absolute, 0.01 = one point)
 * is marked not accepted, and the registry does not serve it.
 */
import { evaluateAccuracy, modelFromParts } from '../../shared/model/index.ts';
import type { OutputSpec } from '../../shared/protocol/index.ts';
import type { Holdout } from './holdout.ts';
import { assertHoldoutFits } from './holdout.ts';
import type { ModelPackage } from './model-files.ts';
import type { ModelVariant, VariantEncoding } from './variants.ts';
import { weightsFromVariant } from './variants.ts';

export interface VariantAccuracy {
  encoding: VariantEncoding;
  accuracy: number;
  /** fp32 accuracy minus this variant's; negative when the variant does better. */
  drop: number;
  accepted: boolean;
}

export interface VariantAccuracyReport {
  fp32Accuracy: number;
  count: number;
  perVariant: VariantAccuracy[];
}

/**
 * Evaluate every variant against the fp32 package on a holdout.
 *
 * @example
 * const report = await checkVariantAccuracy(pkg, deriveVariants(pkg), readHoldout(bytes));
 * const served = report.perVariant.filter((v) => v.accepted).map((v) => v.encoding);
 */
export async function checkVariantAccuracy(
  pkg: ModelPackage,
  variants: readonly ModelVariant[],
  holdout: Holdout,
  options: { maxAccuracyDrop?: number; batchSize?: number; output?: OutputSpec } = {},
): Promise<VariantAccuracyReport> {
  const maxAccuracyDrop = options.maxAccuracyDrop ?? 0.01;
  assertHoldoutFits(holdout, pkg.inputSpec.shape, 'the model');
  const examples = { x: holdout.x, y: holdout.y, inputShape: holdout.inputShape };
  const accuracyOf = async (weights: Float32Array[]): Promise<number> => {
    const model = await modelFromParts({ topology: pkg.topology, weightSpecs: pkg.weightSpecs, weights });
    try {
      return (await evaluateAccuracy(model, examples, options.batchSize, options.output)).accuracy;
    } finally {
      model.dispose();
    }
  };
  const fp32Accuracy = await accuracyOf(pkg.weights);
  const perVariant: VariantAccuracy[] = [];
  for (const variant of variants) {
    const accuracy = await accuracyOf(weightsFromVariant(variant.bytes, pkg.weightSpecs));
    const drop = fp32Accuracy - accuracy;
    perVariant.push({ encoding: variant.encoding, accuracy, drop, accepted: drop <= maxAccuracyDrop });
  }
  return { fp32Accuracy, count: holdout.count, perVariant };
}
