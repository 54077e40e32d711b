/**
 * A tfjs LayersModel folder on disk: model.json plus weight shards. Reading is
 * a thin layer over `readModelFiles` (the admin upload route calls that one
 * directly); writing uses a custom save handler, since tfjs-node's `file://`
 * handler is not available here.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createMnistModel, type MnistModelKind } from '../../shared/model/index.ts';
import { DEFAULT_MODEL_PACKAGE_LIMITS, parseModelJson, readModelFiles, shardKey } from './model-files.ts';
import type { ModelPackage, ModelPackageLimits } from './model-files.ts';
import { ModelPackageError } from './model-package-error.ts';

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Read and validate the model in `dir`. Only model.json and the shards it
 * names are read, and their sizes are checked against the limit before any
 * shard is loaded into memory.
 *
 * @example
 * const pkg = await readModelDirectory('./model', { maxTotalBytes: 64 << 20 });
 */
export async function readModelDirectory(dir: string, limits: Partial<ModelPackageLimits> = {}): Promise<ModelPackage> {
  const { maxTotalBytes } = { ...DEFAULT_MODEL_PACKAGE_LIMITS, ...limits };
  const jsonPath = join(dir, 'model.json');
  const jsonSize = await fileSize(jsonPath);
  if (jsonSize === undefined) {
    throw new ModelPackageError(
      'missing_model_json',
      `no model.json in ${dir}; point at the folder written by tf.LayersModel.save()`,
    );
  }
  const tooLarge = (total: number) =>
    new ModelPackageError(
      'too_large',
      `the model in ${dir} totals at least ${total} bytes, over the limit of ${maxTotalBytes}; shrink or quantize the model, or raise the limit`,
    );
  if (jsonSize > maxTotalBytes) throw tooLarge(jsonSize);
  const jsonBytes = new Uint8Array(await readFile(jsonPath));
  const json = parseModelJson(jsonBytes);

  const keys = [...new Set(json.weightsManifest.flatMap((g) => g.paths.map(shardKey)))];
  let total = jsonBytes.byteLength;
  for (const key of keys) {
    const size = await fileSize(join(dir, key));
    // A missing shard is reported by readModelFiles with the manifest's own wording.
    if (size !== undefined) total += size;
    if (total > maxTotalBytes) throw tooLarge(total);
  }
  const files = new Map<string, Uint8Array>([['model.json', jsonBytes]]);
  for (const key of keys) {
    try {
      files.set(key, new Uint8Array(await readFile(join(dir, key))));
    } catch {
      // Left out on purpose: readModelFiles turns the gap into 'missing_weights'.
    }
  }
  return readModelFiles(files, { maxTotalBytes });
}

/**
 * `model` as the files of a model folder, in memory: `model.json` and
 * `weights.bin` (float32, one shard), the layout `readModelFiles`, the admin
 * push route and `tf.loadLayersModel` read. The training config is left out:
 * clients compile with their task's plan.
 *
 * @example
 * const files = await modelToFiles(model); // Map { 'model.json' => bytes, 'weights.bin' => bytes }
 */
export async function modelToFiles(model: tf.LayersModel): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData =
        artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const modelJson = {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      files.set('model.json', new TextEncoder().encode(JSON.stringify(modelJson)));
      files.set('weights.bin', new Uint8Array(weightData));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  return files;
}

/**
 * The files of a freshly initialised MNIST model (simulations, tests).
 * @example
 * const files = await mnistModelFiles('2nn', 1);
 */
export async function mnistModelFiles(kind: MnistModelKind, seed = 1): Promise<Map<string, Uint8Array>> {
  const model = createMnistModel(kind, { seed });
  try {
    return await modelToFiles(model);
  } finally {
    model.dispose();
  }
}

/**
 * Save `model` as `dir/model.json` + `dir/weights.bin` (see `modelToFiles`).
 *
 * @example
 * await writeModelDirectory(model, './seed-model');
 */
export async function writeModelDirectory(model: tf.LayersModel, dir: string): Promise<void> {
  const files = await modelToFiles(model);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'weights.bin'), files.get('weights.bin')!);
  // model.json last: a folder with model.json is a complete one.
  await writeFile(join(dir, 'model.json'), files.get('model.json')!);
}
