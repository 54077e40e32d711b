/**
 * The one holdout scorer: the push-time variant gate and each round's
 * evaluation call it, and the model spec's output kind decides what a
 * holdout row's target means and how a prediction is judged, the same way a
 * device judges its own predictions (client/inference/prediction-output.ts):
 * - multiclass: top-1 accuracy (argmax = class index), cross-entropy loss;
 * - binary: accuracy of `p >= threshold` against 0/1, binary cross-entropy;
 * - multilabel: exact-match accuracy (every label's `p >= threshold` equals
 *   its 0/1 target: the headline, as the canary's feedback counts it), plus
 *   per-label (Hamming) accuracy and binary cross-entropy per label;
 * - regression: mean absolute error over every output value, and the mean
 *   squared error (the training loss) as `loss`.
 */
import * as tf from '@tensorflow/tfjs';
import { evaluateAccuracy } from '../../shared/model/index.ts';
import { DEFAULT_OUTPUT_SPEC, type OutputSpec } from '../../shared/protocol/index.ts';
import type { JsonObject } from '../store/index.ts';
import { HoldoutError, type Holdout } from './holdout.ts';

/** How a holdout's headline number is read: accuracy and exact match are better higher, mean absolute error lower. */
export type HoldoutMetric = 'accuracy' | 'exactMatch' | 'meanAbsoluteError';

export type HoldoutScore =
  | { metric: 'accuracy'; accuracy: number; loss: number; count: number }
  | { metric: 'exactMatch'; accuracy: number; labelAccuracy: number; loss: number; count: number }
  | { metric: 'meanAbsoluteError'; meanAbsoluteError: number; loss: number; count: number };

const isBit = (v: number) => v === 0 || v === 1;

/** The target width an output kind needs from a model with `units` output units. */
function targetWidthFor(output: OutputSpec, units: number | null): number | null {
  if (output.kind === 'multilabel') return output.labels.length;
  if (output.kind === 'regression') return units;
  return 1;
}

/**
 * Refuses a holdout whose targets do not mean anything to this output kind
 * (`units`: the model's output units, null when unknown).
 * @throws HoldoutError naming the first bad target and what the kind needs
 *
 * @example
 * assertHoldoutTargetsFit(holdout, { kind: 'multilabel', threshold: 0.5, labels: ['a', 'b'] }, 2);
 */
export function assertHoldoutTargetsFit(holdout: Holdout, output: OutputSpec, units: number | null): void {
  const have = holdout.targetWidth ?? 1;
  const width = targetWidthFor(output, units);
  if (width !== null && have !== width)
    throw new HoldoutError(
      `the holdout has ${have} target value${have === 1 ? '' : 's'} per example but a ${output.kind} model with ${units ?? '?'} output unit${units === 1 ? '' : 's'} needs ${width}${output.kind === 'multilabel' ? ' (one 0/1 per label)' : ''}; make it with flock holdout make --model for this model`,
    );
  const y = holdout.y;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    const ok =
      output.kind === 'multiclass'
        ? Number.isInteger(v) && v >= 0 && v <= 255 && (units === null || units < 2 || v < units)
        : output.kind === 'regression' || isBit(v);
    if (!ok) {
      const need =
        output.kind === 'multiclass'
          ? `class indices 0..${units !== null && units >= 2 ? Math.min(units, 256) - 1 : 255}`
          : '0 or 1';
      throw new HoldoutError(
        `holdout label ${Math.floor(i / have)} is ${v}; a ${output.kind} model's targets are ${need}`,
      );
    }
  }
}

/** Output rows of `model` on the holdout, one host array of `n * units` per batch. */
async function predictRows(model: tf.LayersModel, holdout: Holdout, batchSize: number): Promise<Float32Array[]> {
  const size = holdout.inputShape.reduce((n, d) => n * d, 1);
  const batches: Float32Array[] = [];
  for (let start = 0; start < holdout.count; start += batchSize) {
    const n = Math.min(batchSize, holdout.count - start);
    const out = tf.tidy(() => {
      const xs = tf.tensor(holdout.x.subarray(start * size, (start + n) * size), [n, ...holdout.inputShape]);
      const y = model.predict(xs);
      if (Array.isArray(y)) throw new HoldoutError('a holdout scores models with a single output');
      return tf.reshape(y, [n, -1]);
    });
    // Asynchronous read: dataSync would stall a GPU backend.
    batches.push((await out.data()) as Float32Array);
    out.dispose();
  }
  return batches;
}

/**
 * Scores `model` on `holdout` by the output kind (default multiclass).
 * @throws HoldoutError when the targets do not fit the kind or the model's outputs
 *
 * @example
 * const score = await scoreHoldout(model, readHoldout(bytes), spec.output);
 * if (score.metric === 'meanAbsoluteError') console.log(score.meanAbsoluteError);
 */
export async function scoreHoldout(
  model: tf.LayersModel,
  holdout: Holdout,
  output: OutputSpec = DEFAULT_OUTPUT_SPEC,
  batchSize = 256,
): Promise<HoldoutScore> {
  const units = model.outputs[0]?.shape.at(-1) ?? null;
  assertHoldoutTargetsFit(holdout, output, units);
  if (output.kind === 'multiclass' || output.kind === 'binary') {
    const y = Uint8Array.from(holdout.y);
    const r = await evaluateAccuracy(model, { x: holdout.x, y, inputShape: holdout.inputShape }, batchSize, output);
    return { metric: 'accuracy', accuracy: r.accuracy, loss: r.loss, count: r.count };
  }
  const width = holdout.targetWidth ?? 1;
  let row = 0;
  let hits = 0;
  let labelHits = 0;
  let absSum = 0;
  let lossSum = 0;
  for (const batch of await predictRows(model, holdout, batchSize)) {
    if (batch.length % width !== 0)
      throw new HoldoutError(`the model's output rows are not ${width} wide; the holdout does not fit it`);
    for (let at = 0; at < batch.length; at += width, row++) {
      let all = true;
      for (let k = 0; k < width; k++) {
        const p = batch[at + k];
        const t = holdout.y[row * width + k];
        if (output.kind === 'regression') {
          absSum += Math.abs(p - t);
          lossSum += (p - t) * (p - t);
        } else {
          const same = (p >= output.threshold ? 1 : 0) === t;
          all &&= same;
          if (same) labelHits++;
          lossSum -= Math.log(Math.min(1, Math.max(1e-7, t === 1 ? p : 1 - p)));
        }
      }
      if (all) hits++;
    }
  }
  const values = holdout.count * width;
  if (output.kind === 'regression')
    return {
      metric: 'meanAbsoluteError',
      meanAbsoluteError: absSum / values,
      loss: lossSum / values,
      count: holdout.count,
    };
  return {
    metric: 'exactMatch',
    accuracy: hits / holdout.count,
    labelAccuracy: labelHits / values,
    loss: lossSum / values,
    count: holdout.count,
  };
}

/**
 * A score as the metrics a version or round keeps: `holdoutAccuracy` (exact
 * match for multilabel, with `holdoutLabelAccuracy`) or
 * `holdoutMeanAbsoluteError`, with `holdoutLoss` and `holdoutCount`.
 *
 * @example
 * holdoutMetrics({ metric: 'meanAbsoluteError', meanAbsoluteError: 0.4, loss: 0.3, count: 50 })
 * // { holdoutMeanAbsoluteError: 0.4, holdoutLoss: 0.3, holdoutCount: 50 }
 */
export function holdoutMetrics(score: HoldoutScore): JsonObject {
  const common = { holdoutLoss: score.loss, holdoutCount: score.count };
  if (score.metric === 'meanAbsoluteError') return { holdoutMeanAbsoluteError: score.meanAbsoluteError, ...common };
  if (score.metric === 'exactMatch')
    return { holdoutAccuracy: score.accuracy, holdoutLabelAccuracy: score.labelAccuracy, ...common };
  return { holdoutAccuracy: score.accuracy, ...common };
}
