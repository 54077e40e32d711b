/**
 * The holdout gate for quantized variants: each variant is decoded, loaded as
 * a real tfjs model and scored on the holdout next to the fp32 original by
 * the one scorer (holdout-score.ts), and a variant that does worse than the
 * gate allows is marked not accepted, so the registry does not serve it.
 *
 * The rule, by output kind, with `maxAccuracyDrop` (0.01 by default):
 * - multiclass, binary (accuracy) and multilabel (exact-match accuracy): the
 *   variant may lose at most `maxAccuracyDrop` absolute (0.01 = one point);
 * - regression (mean absolute error): the variant's MAE may exceed fp32's by
 *   at most `maxAccuracyDrop` times the holdout's error scale, the MAE of the
 *   best constant guess (each output's median): 0.01 allows 1% of the error a
 *   model that learnt nothing makes, so the rule needs no unit of the targets.
 */
import { modelFromParts } from '../../shared/model/index.ts';
import { DEFAULT_OUTPUT_SPEC, type OutputSpec } from '../../shared/protocol/index.ts';
import type { Holdout } from './holdout.ts';
import { assertHoldoutFits, HoldoutError } from './holdout.ts';
import { scoreHoldout, type HoldoutScore } from './holdout-score.ts';
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

/** The gate on accuracy: multiclass and binary (`accuracy`), multilabel (`exactMatch`). */
export interface VariantAccuracyReport {
  metric: 'accuracy' | 'exactMatch';
  fp32Accuracy: number;
  count: number;
  perVariant: VariantAccuracy[];
}

export interface VariantError {
  encoding: VariantEncoding;
  meanAbsoluteError: number;
  /** (this variant's MAE - fp32's) / errorScale; negative when the variant does better. */
  drop: number;
  accepted: boolean;
}

/** The gate on mean absolute error (regression). */
export interface VariantErrorReport {
  metric: 'meanAbsoluteError';
  /** A regression model has no accuracy (kept so `report.fp32Accuracy` reads on every report). */
  fp32Accuracy: null;
  fp32MeanAbsoluteError: number;
  /** The MAE of predicting each output's median: what a drop of 1 means. */
  errorScale: number;
  count: number;
  perVariant: VariantError[];
}

export type VariantHoldoutReport = VariantAccuracyReport | VariantErrorReport;

/** Mean over outputs of the mean absolute deviation from the median; 1 when the targets are all equal. */
export function regressionErrorScale(holdout: Holdout): number {
  const { y, count } = holdout;
  const width = holdout.targetWidth ?? 1;
  let total = 0;
  for (let k = 0; k < width; k++) {
    const column = Float64Array.from({ length: count }, (_, i) => y[i * width + k]).sort();
    const median = count % 2 ? column[(count - 1) / 2] : (column[count / 2 - 1] + column[count / 2]) / 2;
    let sum = 0;
    for (const v of column) sum += Math.abs(v - median);
    total += sum / count;
  }
  const scale = total / width;
  return scale > 0 ? scale : 1;
}

/**
 * Score every variant against the fp32 package on a holdout, by `output`'s kind (default multiclass).
 * @throws HoldoutError when the holdout does not fit the model's input or its output kind
 *
 * @example
 * const report = await checkVariantHoldout(pkg, deriveVariants(pkg), readHoldout(bytes), { output: spec.output });
 * const served = report.perVariant.filter((v) => v.accepted).map((v) => v.encoding);
 */
export async function checkVariantHoldout(
  pkg: ModelPackage,
  variants: readonly ModelVariant[],
  holdout: Holdout,
  options: { maxAccuracyDrop?: number; batchSize?: number; output?: OutputSpec } = {},
): Promise<VariantHoldoutReport> {
  const maxAccuracyDrop = options.maxAccuracyDrop ?? 0.01;
  const output = options.output ?? DEFAULT_OUTPUT_SPEC;
  assertHoldoutFits(holdout, pkg.inputSpec.shape, 'the model');
  const scoreOf = async (weights: Float32Array[]): Promise<HoldoutScore> => {
    const model = await modelFromParts({ topology: pkg.topology, weightSpecs: pkg.weightSpecs, weights });
    try {
      return await scoreHoldout(model, holdout, output, options.batchSize);
    } finally {
      model.dispose();
    }
  };
  const fp32 = await scoreOf(pkg.weights);
  const scores: Array<[VariantEncoding, HoldoutScore]> = [];
  for (const variant of variants)
    scores.push([variant.encoding, await scoreOf(weightsFromVariant(variant.bytes, pkg.weightSpecs))]);
  if (fp32.metric === 'meanAbsoluteError') {
    const errorScale = regressionErrorScale(holdout);
    return {
      metric: 'meanAbsoluteError',
      fp32Accuracy: null,
      fp32MeanAbsoluteError: fp32.meanAbsoluteError,
      errorScale,
      count: holdout.count,
      perVariant: scores.map(([encoding, s]) => {
        const meanAbsoluteError = s.metric === 'meanAbsoluteError' ? s.meanAbsoluteError : Number.NaN;
        const drop = (meanAbsoluteError - fp32.meanAbsoluteError) / errorScale;
        return { encoding, meanAbsoluteError, drop, accepted: drop <= maxAccuracyDrop };
      }),
    };
  }
  return {
    metric: fp32.metric,
    fp32Accuracy: fp32.accuracy,
    count: holdout.count,
    perVariant: scores.map(([encoding, s]) => {
      const accuracy = s.metric === 'meanAbsoluteError' ? Number.NaN : s.accuracy;
      const drop = fp32.accuracy - accuracy;
      return { encoding, accuracy, drop, accepted: drop <= maxAccuracyDrop };
    }),
  };
}

/**
 * The accuracy gate for classifiers (multiclass by default, binary, multilabel).
 * @throws HoldoutError for a regression output (use checkVariantHoldout) or a holdout that does not fit
 *
 * @example
 * const report = await checkVariantAccuracy(pkg, deriveVariants(pkg), readHoldout(bytes));
 */
export async function checkVariantAccuracy(
  pkg: ModelPackage,
  variants: readonly ModelVariant[],
  holdout: Holdout,
  options: { maxAccuracyDrop?: number; batchSize?: number; output?: OutputSpec } = {},
): Promise<VariantAccuracyReport> {
  const report = await checkVariantHoldout(pkg, variants, holdout, options);
  if (report.metric === 'meanAbsoluteError')
    throw new HoldoutError('a regression model is gated on mean absolute error: call checkVariantHoldout');
  return report;
}
