/**
 * Validates an uploaded tfjs LayersModel (model.json + weight shards) and turns
 * it into a `ModelPackage`: float32 weights, an input spec and a topology hash.
 *
 * Checks run cheapest first: sizes before parsing, the manifest (and its
 * parameter count) before any weight bytes are copied, and finally a real
 * `tf.loadLayersModel`, because only tfjs itself can say whether a topology is
 * a model it can run; that load may create no weight beyond what the manifest
 * declares (weight-budget.ts), so a topology cannot make it allocate more.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { countParams, partsFromModel } from '../../shared/model/index.ts';
import type { ModelTopology, WeightSpec } from '../../shared/model/index.ts';
import { ModelPackageError } from './model-package-error.ts';
import { topologyHash } from './topology-hash.ts';
import { withWeightBudget } from './weight-budget.ts';

/** A validated model, ready to store and to derive variants from. */
export interface ModelPackage {
  /** `modelTopology` as tfjs re-serializes it after loading (no weights). */
  topology: ModelTopology;
  weightSpecs: WeightSpec[];
  /** Dequantized float32 values, one array per spec, finite. */
  weights: Float32Array[];
  /** Shape of the single input with a `null` batch dimension. */
  inputSpec: { shape: (number | null)[]; dtype: 'float32' };
  /** Shape of the single output with a `null` batch dimension. */
  outputShape: (number | null)[];
  totalParams: number;
  /** SHA-256 hex of the canonical topology JSON. */
  topologyHash: string;
}

export interface ModelPackageLimits {
  /** Upper bound on model.json plus all weight files, in bytes. */
  maxTotalBytes: number;
  /** Upper bound on the weights the manifest declares (elements); the topology may not ask for more than it declares. */
  maxParams: number;
}

/** 256 MiB and 64M parameters: far above any model a browser should download or train. */
export const DEFAULT_MODEL_PACKAGE_LIMITS: ModelPackageLimits = {
  maxTotalBytes: 256 * 1024 * 1024,
  maxParams: 64 * 1024 * 1024,
};

const quantizationSchema = z.object({
  dtype: z.enum(['uint8', 'uint16', 'float16']),
  scale: z.number().optional(),
  min: z.number().optional(),
});
const weightEntrySchema = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.string(),
  quantization: quantizationSchema.optional(),
});
const modelJsonSchema = z.object({
  format: z.string().optional(),
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z.array(z.object({ paths: z.array(z.string()).min(1), weights: z.array(weightEntrySchema) })),
});

/** The parts of model.json Flock reads. */
export type ModelJson = z.infer<typeof modelJsonSchema>;

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, uint8: 1, uint16: 2, float16: 2 };

/**
 * Parse and validate model.json bytes (format only; shards are not looked at).
 * @throws ModelPackageError 'bad_model_json'
 */
export function parseModelJson(bytes: Uint8Array): ModelJson {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new ModelPackageError(
      'bad_model_json',
      `model.json is not valid UTF-8 JSON (${(err as Error).message}); export the model again with model.save()`,
      { cause: err },
    );
  }
  if (raw !== null && typeof raw === 'object' && (raw as { format?: unknown }).format === 'graph-model') {
    throw new ModelPackageError(
      'bad_model_json',
      'model.json is a tfjs graph model; Flock trains models, so push a Layers model (tf.LayersModel.save, or tensorflowjs_converter --output_format=tfjs_layers_model)',
    );
  }
  const parsed = modelJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelPackageError(
      'bad_model_json',
      `model.json is not a tfjs Layers model: ${issue.path.join('.') || '(root)'}: ${issue.message}; it needs "modelTopology" and "weightsManifest"`,
    );
  }
  const json = parsed.data;
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new ModelPackageError(
      'bad_model_json',
      `model.json has format "${json.format}"; Flock accepts "layers-model" only`,
    );
  }
  for (const group of json.weightsManifest) {
    for (const path of group.paths) shardKey(path);
    for (const w of group.weights) {
      const stored = w.quantization?.dtype ?? w.dtype;
      if (w.dtype !== 'float32' || !(stored in BYTES_PER_ELEMENT)) {
        throw new ModelPackageError(
          'bad_model_json',
          `weight ${w.name} has dtype ${w.dtype}${w.quantization ? ` quantized as ${w.quantization.dtype}` : ''}; Flock needs float32 weights (optionally float16/uint8/uint16-quantized)`,
        );
      }
    }
  }
  return json;
}

/** Normalize a manifest path to a file key; refuse anything that could escape the model folder. */
export function shardKey(path: string): string {
  const key = path.replace(/^(\.\/)+/, '');
  if (
    key === '' ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.split('/').some((s) => s === '..' || s === '.' || s === '')
  ) {
    throw new ModelPackageError(
      'bad_model_json',
      `weightsManifest path "${path}" must be a plain relative file name next to model.json`,
    );
  }
  return key;
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * Validate and load a model from its files. `files` maps paths relative to
 * the model folder ("model.json", "group1-shard1of2.bin", …) to their bytes.
 *
 * @example
 * const pkg = await readModelFiles(new Map([['model.json', json], ['weights.bin', bin]]));
 * console.log(pkg.totalParams, pkg.inputSpec.shape);
 */
export async function readModelFiles(
  files: ReadonlyMap<string, Uint8Array>,
  limits: Partial<ModelPackageLimits> = {},
): Promise<ModelPackage> {
  const { maxTotalBytes, maxParams } = { ...DEFAULT_MODEL_PACKAGE_LIMITS, ...limits };
  let totalBytes = 0;
  for (const bytes of files.values()) totalBytes += bytes.byteLength;
  if (totalBytes > maxTotalBytes) {
    throw new ModelPackageError(
      'too_large',
      `the model files total ${totalBytes} bytes, over the limit of ${maxTotalBytes}; shrink or quantize the model, or raise the limit`,
    );
  }
  const modelJsonBytes = files.get('model.json');
  if (!modelJsonBytes) {
    throw new ModelPackageError(
      'missing_model_json',
      'no model.json among the files; push the folder written by tf.LayersModel.save()',
    );
  }
  const json = parseModelJson(modelJsonBytes);

  const chunks: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const [g, group] of json.weightsManifest.entries()) {
    const expected = group.weights.reduce(
      (n, w) => n + elementCount(w.shape) * BYTES_PER_ELEMENT[w.quantization?.dtype ?? w.dtype],
      0,
    );
    let actual = 0;
    for (const path of group.paths) {
      const shard = files.get(shardKey(path));
      if (!shard) {
        throw new ModelPackageError(
          'missing_weights',
          `weight file "${path}" named in model.json is missing; upload every shard listed in weightsManifest`,
        );
      }
      actual += shard.byteLength;
      chunks.push(shard);
    }
    if (actual !== expected) {
      throw new ModelPackageError(
        'weights_size_mismatch',
        `weight group ${g} (${group.paths.join(', ')}) has ${actual} bytes but its manifest describes ${expected}; a shard is truncated or from another model, export it again`,
      );
    }
    specs.push(...(group.weights as tf.io.WeightsManifestEntry[]));
  }
  const declared = specs.reduce((n, w) => n + elementCount(w.shape), 0);
  if (declared > maxParams) {
    throw new ModelPackageError(
      'too_large',
      `the weights manifest declares ${declared} parameters, over the limit of ${maxParams}; Flock serves models a browser can train`,
    );
  }
  const weightData = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    weightData.set(c, at);
    at += c.byteLength;
  }

  let model: tf.LayersModel;
  try {
    // Checked before tfjs allocates: the topology may create no more weights than the manifest declares.
    model = await withWeightBudget(declared, () =>
      tf.loadLayersModel(
        tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: weightData.buffer }),
      ),
    );
  } catch (err) {
    if (err instanceof ModelPackageError) throw err;
    throw new ModelPackageError(
      'load_failed',
      `tfjs could not load the model: ${(err as Error).message}; check that model.json and the shards come from the same tf.LayersModel.save()`,
      { cause: err },
    );
  }
  try {
    return packageFromModel(model);
  } finally {
    model.dispose();
  }
}

function packageFromModel(model: tf.LayersModel): ModelPackage {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ModelPackageError(
      'unsupported_model',
      `the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; Flock serves models with exactly one of each`,
    );
  }
  const input = model.inputs[0];
  if (input.dtype !== 'float32') {
    throw new ModelPackageError('unsupported_model', `the model input is ${input.dtype}; Flock feeds float32 inputs`);
  }
  const { topology, weightSpecs, weights } = partsFromModel(model);
  weights.forEach((data, i) => {
    for (let j = 0; j < data.length; j++) {
      if (!Number.isFinite(data[j])) {
        throw new ModelPackageError(
          'non_finite_weights',
          `weight ${weightSpecs[i].name} holds ${data[j]} at index ${j}; retrain or fix the model, weights must be finite`,
        );
      }
    }
  });
  return {
    topology,
    weightSpecs,
    weights,
    inputSpec: { shape: [...input.shape], dtype: 'float32' },
    outputShape: [...model.outputs[0].shape],
    totalParams: countParams(weightSpecs),
    topologyHash: topologyHash(topology),
  };
}
