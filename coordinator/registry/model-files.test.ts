import { mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMnistModel, partsFromModel } from '../../shared/model/index.ts';
import type { ModelParts } from '../../shared/model/index.ts';
import { readModelDirectory, writeModelDirectory } from './model-directory.ts';
import { readModelFiles } from './model-files.ts';
import { ModelPackageError } from './model-package-error.ts';
import { topologyHash } from './topology-hash.ts';

let root: string;
let reference: ModelParts;
let dirCount = 0;

/** A fresh copy of the reference model folder that a test may damage. */
async function modelDir(): Promise<string> {
  const dir = join(root, `m${dirCount++}`);
  const model = createMnistModel('mlp-small', { seed: 11 });
  await writeModelDirectory(model, dir);
  model.dispose();
  return dir;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<ModelPackageError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelPackageError);
  expect((err as ModelPackageError).code).toBe(code);
  return err as ModelPackageError;
}

beforeAll(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'flock-registry-'));
  const model = createMnistModel('mlp-small', { seed: 11 });
  reference = partsFromModel(model);
  model.dispose();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('readModelDirectory', () => {
  it('reads back what writeModelDirectory wrote, with input spec and topology hash', async () => {
    const pkg = await readModelDirectory(await modelDir());
    expect(pkg.weightSpecs).toEqual(reference.weightSpecs);
    expect(pkg.weights).toEqual(reference.weights);
    expect(pkg.totalParams).toBe(50_890);
    expect(pkg.inputSpec).toEqual({ shape: [null, 784], dtype: 'float32' });
    expect(pkg.topologyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(pkg.topologyHash).toBe(topologyHash(reference.topology));
    // A different architecture hashes differently.
    const other = createMnistModel('2nn');
    expect(topologyHash(other.toJSON(null, false) as object)).not.toBe(pkg.topologyHash);
    other.dispose();
  });

  it('loads with tf.loadLayersModel from the same bytes (the folder is a real tfjs model)', async () => {
    const dir = await modelDir();
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const bin = await readFile(join(dir, 'weights.bin'));
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: new Uint8Array(bin).buffer,
      }),
    );
    expect(model.countParams()).toBe(50_890);
    model.dispose();
  });

  it('rejects a truncated shard', async () => {
    const dir = await modelDir();
    await truncate(join(dir, 'weights.bin'), 1000);
    const err = await rejectsWith(readModelDirectory(dir), 'weights_size_mismatch');
    expect(err.message).toMatch(/1000 bytes .* describes 203560/);
  });

  it('rejects a missing shard and a missing model.json', async () => {
    const dir = await modelDir();
    await unlink(join(dir, 'weights.bin'));
    await rejectsWith(readModelDirectory(dir), 'missing_weights');
    await rejectsWith(readModelDirectory(join(root, 'nowhere')), 'missing_model_json');
  });

  it('rejects garbage, graph models and escaping shard paths in model.json', async () => {
    const dir = await modelDir();
    await writeFile(join(dir, 'model.json'), '{"modelTopology": ');
    await rejectsWith(readModelDirectory(dir), 'bad_model_json');
    await writeFile(
      join(dir, 'model.json'),
      JSON.stringify({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }),
    );
    expect((await rejectsWith(readModelDirectory(dir), 'bad_model_json')).message).toMatch(/Layers model/);
    await writeFile(
      join(dir, 'model.json'),
      JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['../../etc/passwd'], weights: [] }] }),
    );
    await rejectsWith(readModelDirectory(dir), 'bad_model_json');
    await writeFile(join(dir, 'model.json'), JSON.stringify({ modelTopology: { class_name: 'Sequential' } }));
    expect((await rejectsWith(readModelDirectory(dir), 'bad_model_json')).message).toMatch(/weightsManifest/);
  });

  it('rejects NaN weights', async () => {
    const dir = await modelDir();
    const bin = new Uint8Array(await readFile(join(dir, 'weights.bin')));
    new Float32Array(bin.buffer, bin.byteOffset, 4)[3] = Number.NaN;
    await writeFile(join(dir, 'weights.bin'), bin);
    const err = await rejectsWith(readModelDirectory(dir), 'non_finite_weights');
    expect(err.message).toMatch(/hidden1\/kernel holds NaN at index 3/);
  });

  it('rejects a model over the size limit before loading it', async () => {
    const dir = await modelDir();
    await rejectsWith(readModelDirectory(dir, { maxTotalBytes: 100_000 }), 'too_large');
    await expect(readModelDirectory(dir, { maxTotalBytes: 300_000 })).resolves.toBeDefined();
  });

  it('reports a topology tfjs cannot build as load_failed', async () => {
    const dir = await modelDir();
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    json.modelTopology.config.layers[0].class_name = 'NoSuchLayer';
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await rejectsWith(readModelDirectory(dir), 'load_failed');
  });
});

/** float32 -> IEEE half bits, truncating; enough for weights well inside the normal range. */
function halfBits(x: number): number {
  const f = new Uint32Array(new Float32Array([x]).buffer)[0];
  const sign = (f >>> 16) & 0x8000;
  const exp = ((f >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  return sign | (exp << 10) | ((f >>> 13) & 0x3ff);
}

describe('readModelFiles with quantized weights', () => {
  it('accepts uint8- and float16-quantized weights split across shards', async () => {
    const json = JSON.parse(await readFile(join(await modelDir(), 'model.json'), 'utf8'));
    const manifest: object[] = [];
    const chunks: Uint8Array[] = [];
    reference.weightSpecs.forEach((spec, i) => {
      const data = reference.weights[i];
      if (spec.name === 'output/kernel') {
        let min = Infinity;
        let max = -Infinity;
        for (const v of data) {
          min = Math.min(min, v);
          max = Math.max(max, v);
        }
        const scale = (max - min) / 255 || 1;
        chunks.push(Uint8Array.from(data, (v) => Math.round((v - min) / scale)));
        manifest.push({ ...spec, dtype: 'float32', quantization: { dtype: 'uint8', scale, min } });
      } else {
        chunks.push(new Uint8Array(Uint16Array.from(data, halfBits).buffer));
        manifest.push({ ...spec, dtype: 'float32', quantization: { dtype: 'float16' } });
      }
    });
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (all.set(c, at), at + c.length), 0);
    json.weightsManifest = [{ paths: ['./group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: manifest }];
    const cut = 30_001;
    const files = new Map([
      ['model.json', new TextEncoder().encode(JSON.stringify(json))],
      ['group1-shard1of2.bin', all.slice(0, cut)],
      ['group1-shard2of2.bin', all.slice(cut)],
    ]);
    const pkg = await readModelFiles(files);
    expect(pkg.weightSpecs).toEqual(reference.weightSpecs);
    pkg.weights.forEach((w, i) => {
      let maxErr = 0;
      for (let j = 0; j < w.length; j++) maxErr = Math.max(maxErr, Math.abs(w[j] - reference.weights[i][j]));
      // uint8: half a quantization step (range ~0.6 / 255); float16 truncation: < 2^-10 relative.
      expect(maxErr).toBeLessThan(reference.weightSpecs[i].name === 'output/kernel' ? 0.0015 : 0.0001);
    });
    // Both quantized kernels really went through dequantization.
    expect(pkg.weights[0]).not.toEqual(reference.weights[0]);
    expect(pkg.weights[2]).not.toEqual(reference.weights[2]);
  });
});

describe('a topology that asks for more weights than its files declare', () => {
  /** 909 bytes of model.json in the attack: one Dense layer of 20000 x 20000 and a manifest with a single tiny weight. */
  function hugeDenseFiles(): Map<string, Uint8Array> {
    const json = {
      format: 'layers-model',
      modelTopology: {
        class_name: 'Sequential',
        config: {
          name: 'huge',
          layers: [
            {
              class_name: 'Dense',
              config: {
                name: 'd',
                units: 20000,
                use_bias: false,
                batch_input_shape: [null, 20000],
                kernel_initializer: { class_name: 'GlorotUniform', config: {} },
              },
            },
          ],
        },
        keras_version: 'tfjs-layers 4.22.0',
        backend: 'tensor_flow.js',
      },
      weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'd/kernel', shape: [1, 1], dtype: 'float32' }] }],
    };
    return new Map([
      ['model.json', new TextEncoder().encode(JSON.stringify(json))],
      ['w.bin', new Uint8Array(4)],
    ]);
  }

  it('is refused before tfjs allocates its initial values (1.6 GB here), naming the layer', async () => {
    const before = process.memoryUsage();
    const err = await rejectsWith(readModelFiles(hugeDenseFiles()), 'topology_mismatch');
    const after = process.memoryUsage();
    expect(err.message).toMatch(/layer "d" asks for weight kernel of shape \[20000, 20000\].*declares 1/);
    const grownMb = (after.arrayBuffers - before.arrayBuffers + after.heapUsed - before.heapUsed) / 2 ** 20;
    console.log(
      `huge Dense topology refused; memory grew ${grownMb.toFixed(1)} MB (unchecked, tfjs would allocate ${((20000 * 20000 * 4) / 2 ** 30).toFixed(2)} GiB)`,
    );
    expect(grownMb).toBeLessThan(100);
  });

  it('is refused when the manifest itself declares more parameters than the cap', async () => {
    await rejectsWith(readModelFiles(hugeDenseFiles(), { maxParams: 0 }), 'too_large');
  });

  it('does not count models built outside the check (the budget is per load)', async () => {
    const loading = readModelFiles(hugeDenseFiles()).catch((e: unknown) => e);
    const other = createMnistModel('mlp-small', { seed: 3 });
    expect(other.countParams()).toBeGreaterThan(1000);
    other.dispose();
    expect(await loading).toBeInstanceOf(ModelPackageError);
  });
});
