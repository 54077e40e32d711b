/**
 * `flock model init`: a model directory without writing code. A template
 * (shared/model/templates.ts) becomes model.json + weights.bin (written by a
 * custom tf.io save handler: no tfjs-node) and the flock-model.json that says
 * how raw inputs become its features and what its outputs mean, ready for
 * `flock model push`. `--freeze` writes the spec's `frozenLayers` (transfer
 * learning: local training updates and uploads only the rest).
 */
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeModelDirectory } from '../coordinator/registry/model-directory.ts';
import {
  createTemplateModel,
  templateFrozenLayers,
  MODEL_TEMPLATES,
  ModelTemplateError,
  type ModelTemplate,
} from '../shared/model/templates.ts';
import { featureShape, type PreprocessSpec } from '../shared/preprocess/index.ts';
import { MODEL_SPEC_FILE, ModelSpecSchema, type ModelSpecInput } from '../shared/protocol/index.ts';
import type { CliIo } from './index.ts';
import { parseIntegerFlag, UsageError } from './usage-error.ts';

export interface InitFlags {
  template: string;
  out: string;
  classes?: string;
  output?: string;
  labels?: string;
  inputs?: string;
  image?: string;
  textDimensions?: string;
  maxLength?: string;
  charNgrams?: string;
  hidden?: string;
  seed?: string;
  /** 'base' (every layer with weights but the head) or layer names, comma-separated. */
  freeze?: string;
  force?: boolean;
  json?: boolean;
}

const OUTPUTS = ['multiclass', 'binary'] as const;

function preprocessFor(template: ModelTemplate, f: InitFlags): PreprocessSpec | undefined {
  if (template === 'logistic' || template === 'mlp') {
    if (f.inputs === undefined) throw new UsageError(`--template ${template} needs --inputs N (features per example)`);
    return undefined;
  }
  if (template === 'cnn') {
    const m = /^(\d+)x(\d+)x([13])$/.exec(f.image ?? '28x28x1');
    if (!m)
      throw new UsageError(
        `--image must be WIDTHxHEIGHTxCHANNELS with 1 or 3 channels, e.g. 28x28x1; got "${f.image}"`,
      );
    return {
      version: 1,
      input: { kind: 'image', width: +m[1], height: +m[2], channels: +m[3] as 1 | 3 },
    } as PreprocessSpec;
  }
  const dimensions = parseIntegerFlag('--text-dimensions', f.textDimensions ?? '4096');
  let charNgrams: [number, number] | undefined;
  if (f.charNgrams !== undefined) {
    const m = /^([1-8])-([1-8])$/.exec(f.charNgrams);
    if (!m || +m[1] > +m[2])
      throw new UsageError(`--char-ngrams must be MIN-MAX within 1-8, e.g. 3-5; got "${f.charNgrams}"`);
    charNgrams = [+m[1], +m[2]];
  }
  const output =
    template === 'text-embedding'
      ? { type: 'sequence' as const, maxLength: parseIntegerFlag('--max-length', f.maxLength ?? '256') }
      : { type: 'bag' as const, weighting: 'tf' as const, l2Normalize: true };
  return {
    version: 1,
    input: {
      kind: 'text',
      lowercase: true,
      words: true,
      ...(charNgrams ? { charNgrams } : {}),
      encoding: { type: 'hashing', dimensions, seed: 0 },
      output,
    },
  } as PreprocessSpec;
}

/** Parses the flags into the template's options and the model spec, or throws a UsageError naming the flag. */
export function planModelInit(f: InitFlags) {
  if (!(MODEL_TEMPLATES as readonly string[]).includes(f.template))
    throw new UsageError(`--template must be one of ${MODEL_TEMPLATES.join(', ')}, got "${f.template}"`);
  const template = f.template as ModelTemplate;
  const kind = f.output ?? 'multiclass';
  if (!(OUTPUTS as readonly string[]).includes(kind))
    throw new UsageError(`--output must be one of ${OUTPUTS.join(', ')}, got "${kind}"`);
  const labels = f.labels?.split(',').map((l) => l.trim());
  const classes = f.classes !== undefined ? parseIntegerFlag('--classes', f.classes, 2) : (labels?.length ?? 2);
  if (labels && labels.length !== classes)
    throw new UsageError(`--labels names ${labels.length} classes but --classes is ${classes}`);
  if (kind === 'binary' && classes !== 2)
    throw new UsageError(`--output binary has 2 classes, got --classes ${classes}`);
  const preprocess = preprocessFor(template, f);
  const inputShape = preprocess ? featureShape(preprocess) : [parseIntegerFlag('--inputs', f.inputs!)];
  const spec: ModelSpecInput = {
    version: 1,
    ...(preprocess ? { preprocess } : {}),
    output:
      kind === 'binary'
        ? { kind: 'binary', threshold: 0.5, ...(labels ? { labels: [labels[0], labels[1]] as [string, string] } : {}) }
        : { kind: 'multiclass', ...(labels ? { labels } : {}) },
  };
  const parsed = ModelSpecSchema.safeParse(spec);
  if (!parsed.success) throw new UsageError(`the model spec would be invalid: ${parsed.error.issues[0]?.message}`);
  const options = {
    inputShape,
    outputUnits: kind === 'binary' ? 1 : classes,
    outputActivation: kind === 'binary' ? ('sigmoid' as const) : ('softmax' as const),
    ...(f.hidden !== undefined ? { hiddenUnits: parseIntegerFlag('--hidden', f.hidden, 0) } : {}),
    ...(preprocess?.input.kind === 'text' && preprocess.input.encoding.type === 'hashing'
      ? { tokenBuckets: preprocess.input.encoding.dimensions }
      : {}),
    seed: parseIntegerFlag('--seed', f.seed ?? '1', 0),
  };
  return { template, options, spec };
}

/** The layers `--freeze` names on the built model, or a UsageError (exit 2) saying which layers exist. */
function freezeFlag(model: tf.LayersModel, flag: string): string[] {
  const names = flag.split(',').map((n) => n.trim());
  try {
    return templateFrozenLayers(model, flag.trim() === 'base' ? 'base' : names);
  } catch (error) {
    if (error instanceof ModelTemplateError) throw new UsageError(`--freeze: ${error.message}`);
    throw error;
  }
}

/** `flock model init`: writes DIR/model.json, DIR/weights.bin and DIR/flock-model.json. */
export async function initModel(f: InitFlags, io: CliIo): Promise<void> {
  const { template, options, spec } = planModelInit(f);
  if (
    !f.force &&
    (await access(join(f.out, 'model.json')).then(
      () => true,
      () => false,
    ))
  )
    throw new UsageError(`${join(f.out, 'model.json')} exists; pick another --out or pass --force`);
  tf.env().set('PROD', true);
  const model = createTemplateModel(template, options);
  try {
    if (f.freeze !== undefined) spec.frozenLayers = freezeFlag(model, f.freeze);
    await writeModelDirectory(model, f.out);
    await writeFile(join(f.out, MODEL_SPEC_FILE), `${JSON.stringify(spec, null, 2)}\n`);
    const summary = { dir: f.out, template, inputShape: options.inputShape, params: model.countParams(), spec };
    io.out(
      f.json
        ? `${JSON.stringify(summary)}\n`
        : `wrote ${template} model to ${f.out} (input [${options.inputShape.join(', ')}], ${summary.params} params, output ${spec.output?.kind}); push it with: flock model push ${f.out} --app APP\n`,
    );
  } finally {
    model.dispose();
  }
}
