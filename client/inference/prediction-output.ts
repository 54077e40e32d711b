/**
 * What a model's output row means, by the output kind of its model spec:
 * the argmax of a softmax (multiclass), one sigmoid against the stored
 * threshold (binary), one sigmoid per label (multilabel) or plain values
 * (regression). `Prediction` is a union on `kind`, so an app narrows it once.
 */
import type { OutputSpec } from '../../shared/protocol/model-spec.ts';

interface PredictionBase {
  /** The model's output row, as it came out (softmax / sigmoid / values). */
  probabilities: Float32Array;
  /** Index of the class predicted: argmax (multiclass, multilabel), 0 or 1 (binary), 0 (regression). */
  label: number;
  /** The probability of what was predicted (binary: of the predicted side); NaN for regression. */
  confidence: number;
  latencyMs: number;
  cached: boolean;
}

export interface MulticlassPrediction extends PredictionBase {
  kind: 'multiclass';
  /** `labels[label]` of the spec, when it names its classes. */
  labelName?: string;
}

export interface BinaryPrediction extends PredictionBase {
  kind: 'binary';
  /** The sigmoid's output: the probability of the positive class. */
  probability: number;
  /** `probability >= threshold` (the threshold stored with the version). */
  positive: boolean;
  threshold: number;
  label: 0 | 1;
  labelName?: string;
}

export interface MultilabelPrediction extends PredictionBase {
  kind: 'multilabel';
  /** The labels whose probability is >= the stored threshold, in the spec's order. */
  labels: string[];
  /** Each label's probability. */
  scores: Record<string, number>;
  threshold: number;
}

export interface RegressionPrediction extends PredictionBase {
  kind: 'regression';
  /** The first output (the prediction of a one-unit head). */
  value: number;
  /** Every output unit. */
  values: Float32Array;
}

/** One answer of `predict`; narrow on `kind`. */
export type Prediction = MulticlassPrediction | BinaryPrediction | MultilabelPrediction | RegressionPrediction;

/** The reading of a row, before timing and cache flags are added. */
export type PredictionReading =
  | Omit<MulticlassPrediction, 'latencyMs' | 'cached'>
  | Omit<BinaryPrediction, 'latencyMs' | 'cached'>
  | Omit<MultilabelPrediction, 'latencyMs' | 'cached'>
  | Omit<RegressionPrediction, 'latencyMs' | 'cached'>;

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/**
 * @example
 * readPrediction(Float32Array.of(0.83), { kind: 'binary', threshold: 0.7, labels: ['ham', 'spam'] })
 * // { kind: 'binary', probability: 0.83, positive: true, label: 1, labelName: 'spam', confidence: 0.83, ... }
 */
export function readPrediction(row: Float32Array, output: OutputSpec = { kind: 'multiclass' }): PredictionReading {
  switch (output.kind) {
    case 'binary': {
      const probability = row[0];
      const positive = probability >= output.threshold;
      const label = positive ? 1 : 0;
      return {
        kind: 'binary',
        probabilities: row,
        probability,
        positive,
        threshold: output.threshold,
        label,
        confidence: positive ? probability : 1 - probability,
        ...(output.labels ? { labelName: output.labels[label] } : {}),
      };
    }
    case 'multilabel': {
      const scores: Record<string, number> = {};
      const labels: string[] = [];
      output.labels.forEach((name, i) => {
        scores[name] = row[i];
        if (row[i] >= output.threshold) labels.push(name);
      });
      const label = argmax(row);
      return {
        kind: 'multilabel',
        probabilities: row,
        labels,
        scores,
        threshold: output.threshold,
        label,
        confidence: row[label],
      };
    }
    case 'regression':
      return { kind: 'regression', probabilities: row, value: row[0], values: row, label: 0, confidence: Number.NaN };
    case 'multiclass': {
      const label = argmax(row);
      const reading: Omit<MulticlassPrediction, 'latencyMs' | 'cached'> = {
        kind: 'multiclass',
        probabilities: row,
        label,
        confidence: row[label],
      };
      // Assigned, not spread from a temporary object: this runs on every predict() (issue 15).
      const labelName = output.labels?.[label];
      if (labelName !== undefined) reading.labelName = labelName;
      return reading;
    }
  }
}
