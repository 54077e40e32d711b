/**
 * What `flock simulate` trains on, per dataset: the examples clients may hold,
 * the held-out test set, the model to start from (its files, with the model
 * spec for datasets that need preprocessing) and which class is "positive"
 * for the binary metrics. MNIST is already features; SpamAssassin mails go
 * through the one preprocessing implementation (shared/preprocess) with the
 * same spec the pushed version carries, so the simulator, the coordinator's
 * holdout check and a device all compute the same features.
 */
import type * as tf from '@tensorflow/tfjs';
import { mnistModelFiles, modelToFiles } from '../coordinator/registry/model-directory.ts';
import { createMnistModel, mnistInputShape, type MnistModelKind } from '../shared/model/index.ts';
import { createTemplateModel } from '../shared/model/templates.ts';
import { compilePreprocess, type PreprocessSpec } from '../shared/preprocess/index.ts';
import { MODEL_SPEC_FILE, type ModelSpecInput } from '../shared/protocol/index.ts';
import { loadMnist } from './datasets/mnist.ts';
import { mailText, SPAM_LABELS, spamAssassinSplit } from './datasets/spamassassin.ts';

export type DatasetName = 'mnist' | 'spamassassin';
export const DATASET_NAMES: readonly DatasetName[] = ['mnist', 'spamassassin'];
/** Models for text: a hashed bag of words into a logistic regression, or through one hidden layer of 32. */
export type TextModelKind = 'logistic' | 'mlp';
export const TEXT_MODELS: readonly TextModelKind[] = ['logistic', 'mlp'];
export type SimulationModelKind = MnistModelKind | TextModelKind;

export interface SimulationData {
  dataset: DatasetName;
  train: { x: Float32Array; y: Uint8Array };
  test: { x: Float32Array; y: Uint8Array };
  inputShape: number[];
  createModel(seed: number): tf.LayersModel;
  /** model.json, weights.bin and (with preprocessing) flock-model.json, as `flock model push` uploads them. */
  modelFiles(seed: number): Promise<Map<string, Uint8Array>>;
  /** The class F1 and AUC are reported for, or null (multi-class datasets). */
  positiveClass: number | null;
}

/** Words, lower-cased, NFKC, hashed (MurmurHash3) into 4,096 TF buckets, L2-normalised. */
export const SPAM_TEXT_PREPROCESS: PreprocessSpec = {
  version: 1,
  input: {
    kind: 'text',
    lowercase: true,
    words: true,
    encoding: { type: 'hashing', dimensions: 4096, seed: 0 },
    output: { type: 'bag', weighting: 'tf', l2Normalize: true },
  },
};

function featuresOf(texts: string[], spec: PreprocessSpec): Float32Array {
  const p = compilePreprocess(spec);
  const width = p.shape[0];
  const x = new Float32Array(texts.length * width);
  texts.forEach((t, i) => x.set(p.apply(t), i * width));
  return x;
}

async function filesWithSpec(model: tf.LayersModel, spec: ModelSpecInput): Promise<Map<string, Uint8Array>> {
  try {
    const files = await modelToFiles(model);
    files.set(MODEL_SPEC_FILE, new TextEncoder().encode(JSON.stringify(spec)));
    return files;
  } finally {
    model.dispose();
  }
}

/** `n` items spread evenly over `list` (the corpus is in folder order: a prefix would be all ham). */
function evenly<T>(list: T[], n: number | undefined): T[] {
  if (n === undefined || n >= list.length) return list;
  return Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]);
}

/**
 * @example
 * const data = loadSimulationData('spamassassin', 'logistic'); // 4,805 mails to share, 1,241 held out
 */
export function loadSimulationData(
  dataset: DatasetName,
  model: SimulationModelKind,
  limits: { trainExamples?: number; evalExamples?: number } = {},
): SimulationData {
  if (dataset === 'mnist') {
    if (model === 'logistic' || model === 'mlp')
      throw new RangeError(`model ${model} is for text; MNIST takes 2nn, cnn or mlp-small`);
    const train = loadMnist({ split: 'train', ...(limits.trainExamples ? { limit: limits.trainExamples } : {}) });
    const test = loadMnist({ split: 'test', limit: limits.evalExamples });
    return {
      dataset,
      train: { x: train.images, y: train.labels },
      test: { x: test.images, y: test.labels },
      inputShape: mnistInputShape(model),
      createModel: (seed) => createMnistModel(model, { seed }),
      modelFiles: (seed) => mnistModelFiles(model, seed),
      positiveClass: null,
    };
  }
  if (model !== 'logistic' && model !== 'mlp')
    throw new RangeError(`model ${model} is for MNIST; spamassassin takes logistic or mlp`);
  const split = spamAssassinSplit();
  const trainMails = evenly(split.train, limits.trainExamples);
  const testMails = evenly(split.test, limits.evalExamples);
  const spec = SPAM_TEXT_PREPROCESS;
  const inputShape = compilePreprocess(spec).shape;
  const createModel = (seed: number) =>
    createTemplateModel('text-hash', {
      inputShape,
      outputUnits: 2,
      outputActivation: 'softmax',
      hiddenUnits: model === 'mlp' ? 32 : 0,
      seed,
    });
  return {
    dataset,
    train: { x: featuresOf(trainMails.map(mailText), spec), y: Uint8Array.from(trainMails, (m) => m.label) },
    test: { x: featuresOf(testMails.map(mailText), spec), y: Uint8Array.from(testMails, (m) => m.label) },
    inputShape,
    createModel,
    modelFiles: (seed) =>
      filesWithSpec(createModel(seed), {
        version: 1,
        preprocess: spec,
        output: { kind: 'multiclass', labels: [...SPAM_LABELS] },
      }),
    positiveClass: 1,
  };
}
