/**
 * Model templates: the few architectures a user can start from without writing
 * tfjs code (`flock model init --template ...`) and that `flock simulate`
 * trains on text. Layers have fixed names, so two processes building the same
 * template get the same topology and weight names, and a spec's `frozenLayers`
 * can name them ('hidden1', 'embedding', 'output', ...).
 */
import * as tf from '@tensorflow/tfjs';

export type ModelTemplate = 'logistic' | 'mlp' | 'cnn' | 'text-hash' | 'text-embedding';
export const MODEL_TEMPLATES: readonly ModelTemplate[] = ['logistic', 'mlp', 'cnn', 'text-hash', 'text-embedding'];

export interface TemplateOptions {
  /** One example's shape, without the batch dimension: [features], [height, width, channels] (cnn) or [maxLength] (text-embedding). */
  inputShape: number[];
  /** Output units: classes (softmax), 1 (binary sigmoid), labels (multilabel) or values (regression). */
  outputUnits: number;
  outputActivation: 'softmax' | 'sigmoid' | 'linear';
  /** Hidden units of mlp / text-hash (0: none, text-hash is then a logistic regression) and of cnn's dense layer. */
  hiddenUnits?: number;
  /** text-embedding: token ids are 0 (padding) .. tokenBuckets. */
  tokenBuckets?: number;
  /** text-embedding: width of each token's vector (default 16). */
  embeddingDim?: number;
  /** Seed for the kernel initializers (reproducible models). */
  seed?: number;
}

/** Thrown when a template is asked for a shape it cannot take. */
export class ModelTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelTemplateError';
  }
}

/**
 * Build (not compile) a model from a template.
 *
 * @example
 * const model = createTemplateModel('text-hash', { inputShape: [4096], outputUnits: 2, outputActivation: 'softmax', seed: 1 });
 */
export function createTemplateModel(template: ModelTemplate, o: TemplateOptions): tf.LayersModel {
  let seed = o.seed;
  // Each layer needs its own seed, or all kernels of one shape would be equal.
  const init = () => tf.initializers.glorotUniform(seed === undefined ? {} : { seed: seed++ });
  if (!Number.isInteger(o.outputUnits) || o.outputUnits < 1)
    throw new ModelTemplateError(`outputUnits must be a positive integer, got ${o.outputUnits}`);
  const model = tf.sequential({ name: `flock_${template.replace('-', '_')}` });
  const flatInput = () => {
    if (o.inputShape.length !== 1)
      throw new ModelTemplateError(
        `template ${template} reads a flat feature vector; got input shape [${o.inputShape.join(', ')}]`,
      );
    return o.inputShape;
  };
  const hidden = o.hiddenUnits ?? (template === 'mlp' ? 64 : template === 'cnn' ? 128 : 0);
  switch (template) {
    case 'logistic':
    case 'mlp':
    case 'text-hash': {
      const inputShape = flatInput();
      const units = template === 'logistic' ? 0 : hidden;
      if (units > 0)
        model.add(
          tf.layers.dense({ name: 'hidden1', units, activation: 'relu', inputShape, kernelInitializer: init() }),
        );
      model.add(
        tf.layers.dense({
          name: 'output',
          units: o.outputUnits,
          activation: o.outputActivation,
          kernelInitializer: init(),
          ...(units > 0 ? {} : { inputShape }),
        }),
      );
      return model;
    }
    case 'cnn': {
      if (o.inputShape.length !== 3)
        throw new ModelTemplateError(
          `template cnn reads images [height, width, channels]; got input shape [${o.inputShape.join(', ')}]`,
        );
      const conv = (name: string, filters: number, extra = {}) =>
        tf.layers.conv2d({
          name,
          filters,
          kernelSize: 3,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: init(),
          ...extra,
        });
      model.add(conv('conv1', 16, { inputShape: o.inputShape }));
      model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }));
      model.add(conv('conv2', 32));
      model.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2, strides: 2 }));
      model.add(tf.layers.flatten({ name: 'flatten' }));
      if (hidden > 0)
        model.add(tf.layers.dense({ name: 'hidden1', units: hidden, activation: 'relu', kernelInitializer: init() }));
      break;
    }
    case 'text-embedding': {
      const [maxLength] = flatInput();
      const buckets = o.tokenBuckets;
      if (buckets === undefined || !Number.isInteger(buckets) || buckets < 1)
        throw new ModelTemplateError(
          'template text-embedding needs tokenBuckets (the hashing dimensions or vocabulary + 1)',
        );
      model.add(
        tf.layers.embedding({
          name: 'embedding',
          inputDim: buckets + 1,
          outputDim: o.embeddingDim ?? 16,
          inputLength: maxLength,
          embeddingsInitializer: tf.initializers.randomUniform({
            minval: -0.05,
            maxval: 0.05,
            ...(seed === undefined ? {} : { seed: seed++ }),
          }),
        }),
      );
      model.add(tf.layers.globalAveragePooling1d({ name: 'pool' }));
      if (hidden > 0)
        model.add(tf.layers.dense({ name: 'hidden1', units: hidden, activation: 'relu', kernelInitializer: init() }));
      break;
    }
    default:
      throw new ModelTemplateError(`unknown template ${String(template)}; use one of ${MODEL_TEMPLATES.join(', ')}`);
  }
  model.add(
    tf.layers.dense({
      name: 'output',
      units: o.outputUnits,
      activation: o.outputActivation,
      kernelInitializer: init(),
    }),
  );
  return model;
}

/** The head every template ends in: `--freeze base` freezes every layer with weights but this one. */
export const TEMPLATE_HEAD_LAYER = 'output';

/**
 * The `frozenLayers` of a spec for a built template model: the named layers,
 * or for 'base' every layer with weights but the output head (transfer
 * learning: only the head trains and travels).
 * @throws ModelTemplateError for a layer the model lacks or has no weights in, or a list that freezes the head too
 *
 * @example
 * templateFrozenLayers(createTemplateModel('cnn', { inputShape: [28, 28, 1], outputUnits: 10, outputActivation: 'softmax' }), 'base');
 * // ['conv1', 'conv2', 'hidden1']
 */
export function templateFrozenLayers(model: tf.LayersModel, freeze: 'base' | readonly string[]): string[] {
  const weighted = model.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
  const names = freeze === 'base' ? weighted.filter((n) => n !== TEMPLATE_HEAD_LAYER) : [...new Set(freeze)];
  const unknown = names.filter((n) => !weighted.includes(n));
  if (unknown.length > 0)
    throw new ModelTemplateError(
      `cannot freeze ${unknown.join(', ')}: not a layer with weights of this model (layers with weights: ${weighted.join(', ')})`,
    );
  if (names.length === 0)
    throw new ModelTemplateError(`the model has no layer with weights besides its head to freeze`);
  if (names.length === weighted.length)
    throw new ModelTemplateError(
      `freezing ${names.join(', ')} leaves nothing to train; keep the head '${TEMPLATE_HEAD_LAYER}' trainable`,
    );
  return names;
}
