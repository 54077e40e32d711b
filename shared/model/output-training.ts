/**
 * What training optimises for each output kind of a model spec: the loss, the
 * metric reported as `trainAccuracy` (or MAE for regression), and the layout
 * of the targets `model.fit` is given.
 *
 * - multiclass: class indices, shape [n]; sparse categorical cross-entropy.
 * - binary: 0 or 1, shape [n, 1]; binary cross-entropy on the sigmoid.
 * - multilabel: one 0/1 per label, shape [n, labels]; binary cross-entropy.
 * - regression: real values, shape [n, units]; mean squared error, MAE reported.
 */
import type { OutputKind } from '../protocol/model-spec.ts';

export interface OutputTraining {
  loss: 'sparseCategoricalCrossentropy' | 'binaryCrossentropy' | 'meanSquaredError';
  metrics: string[];
  /** True when targets are class indices (one per example, shape [n]); else rows of `width` values. */
  classIndices: boolean;
}

/**
 * @example
 * outputTraining('regression') // { loss: 'meanSquaredError', metrics: ['mae'], classIndices: false }
 */
export function outputTraining(kind: OutputKind = 'multiclass'): OutputTraining {
  switch (kind) {
    case 'multiclass':
      return { loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], classIndices: true };
    case 'binary':
    case 'multilabel':
      return { loss: 'binaryCrossentropy', metrics: ['accuracy'], classIndices: false };
    case 'regression':
      return { loss: 'meanSquaredError', metrics: ['mae'], classIndices: false };
  }
}
