/**
 * `flock holdout make --from DIR` through the real bin: MNIST digits written
 * by the test as PNG (grayscale, RGBA with alpha) and JPEG files of odd sizes,
 * one subfolder per label, become the features the model's own image
 * preprocessing computes from the same pixels (exactly, for lossless PNG);
 * regression and multilabel targets come from JSONL and CSV.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as encodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHoldout } from '../coordinator/registry/holdout.ts';
import { loadMnist } from '../simulate/datasets/mnist.ts';
import { compilePreprocess, type RawImage } from '../shared/preprocess/index.ts';
import { MODEL_SPEC_FILE, ModelSpecSchema } from '../shared/protocol/index.ts';

const bin = fileURLToPath(new URL('../bin/flock.js', import.meta.url));
let tmp: string;

function flock(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 },
      (error, stdout, stderr) =>
        done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** MNIST digit `i` (white on black) placed at (dx, dy) in a w x h RGBA frame; alpha 255 - 100 * (x odd). */
function digitFrame(pixels: Float32Array, w: number, h: number, dx: number, dy: number, alpha: boolean): RawImage {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = x - dx;
      const sy = y - dy;
      const v = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? Math.round(pixels[sy * 28 + sx] * 255) : 0;
      data.set([v, v, v, alpha && x % 2 ? 155 : 255], (y * w + x) * 4);
    }
  }
  return { data, width: w, height: h, channels: 4 };
}

function png(image: RawImage, colorType: 0 | 6): Buffer {
  const p = new PNG({ width: image.width, height: image.height, colorType, inputColorType: 6 });
  p.data = Buffer.from(image.data as Uint8Array);
  return PNG.sync.write(p, { colorType, inputColorType: 6 });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flock-holdout-make-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('flock holdout make', () => {
  it('reads a folder of PNG and JPEG digits of odd sizes through the model image preprocessing', async () => {
    const model = join(tmp, 'cnn');
    const init = await flock([
      'model',
      'init',
      '--template',
      'cnn',
      '--image',
      '28x28x1',
      '--classes',
      '10',
      '--out',
      model,
    ]);
    expect(init.code, init.stderr).toBe(0);
    const spec = ModelSpecSchema.parse(JSON.parse(await readFile(join(model, MODEL_SPEC_FILE), 'utf8')));
    const p = compilePreprocess(spec.preprocess);
    const mnist = loadMnist({ split: 'test', limit: 40 });
    const wanted = [3, 7];
    const picks = wanted.map((label) => mnist.labels.findIndex((l) => l === label));
    expect(picks.every((i) => i >= 0)).toBe(true);
    // Odd sizes: 37x23 crops the digit, 1x99 is a sliver, 53x41 pads it; gray, RGBA with alpha, JPEG.
    const expected: Array<{ label: number; features: Float32Array | null }> = [];
    const dir = join(tmp, 'digits');
    for (const [k, label] of wanted.entries()) {
      await mkdir(join(dir, String(label)), { recursive: true });
      const pixels = mnist.images.subarray(picks[k] * 784, (picks[k] + 1) * 784);
      const gray = digitFrame(pixels, 37, 23, 4, -2, false);
      const sliver = digitFrame(pixels, 1, 99, -14, 30, true);
      const padded = digitFrame(pixels, 53, 41, 12, 6, true);
      await writeFile(join(dir, String(label), 'a-gray-37x23.png'), png(gray, 0));
      await writeFile(join(dir, String(label), 'b-rgba-1x99.png'), png(sliver, 6));
      await writeFile(join(dir, String(label), 'c-rgba-53x41.PNG'), png(padded, 6));
      const jpg = encodeJpeg({ data: padded.data, width: 53, height: 41 }, 100);
      await writeFile(join(dir, String(label), 'd-53x41.jpg'), jpg.data);
      await writeFile(join(dir, String(label), 'notes.txt'), 'not an image');
      expected.push(
        { label, features: p.apply(gray) },
        { label, features: p.apply(sliver) },
        { label, features: p.apply(padded) },
        { label, features: null }, // the JPEG: lossy, so close to the padded PNG's features, not equal
      );
    }
    const out = join(tmp, 'digits.flkt');
    const made = await flock(['holdout', 'make', '--from', dir, '--model', model, '--out', out, '--json']);
    expect(made.code, made.stderr).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ count: 8, inputShape: [28, 28, 1], targetWidth: 1 });
    const holdout = readHoldout(new Uint8Array(await readFile(out)));
    expect(Array.from(holdout.y)).toEqual(expected.map((e) => e.label));
    for (const [i, e] of expected.entries()) {
      const got = holdout.x.subarray(i * 784, (i + 1) * 784);
      if (e.features)
        expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength)).toEqual(Buffer.from(e.features.buffer));
      else {
        const png = holdout.x.subarray((i - 1) * 784, i * 784);
        const worst = got.reduce((m, v, j) => Math.max(m, Math.abs(v - png[j])), 0);
        expect(worst).toBeGreaterThan(0); // really decoded from the JPEG
        expect(worst).toBeLessThan(0.05);
      }
    }
    // The features are not trivially empty: the digit's ink survives the resize.
    expect(holdout.x.subarray(0, 784).reduce((s, v) => s + v, 0)).toBeGreaterThan(10);

    await writeFile(join(dir, '3', 'e-broken.png'), 'not a png at all');
    const broken = await flock(['holdout', 'make', '--from', dir, '--model', model, '--out', out]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('3/e-broken.png does not decode as PNG');
    await rm(join(dir, '3', 'e-broken.png'));
    await mkdir(join(dir, 'eleven'));
    await writeFile(join(dir, 'eleven', 'x.png'), png(digitFrame(mnist.images, 5, 5, 0, 0, false), 6));
    const unknown = await flock(['holdout', 'make', '--from', dir, '--model', model, '--out', out]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('the subfolder of eleven/x.png is "eleven"');
  }, 120_000);

  it('reads regression and multilabel targets, and refuses a folder for a model that reads no images', async () => {
    const model = join(tmp, 'logistic');
    expect((await flock(['model', 'init', '--template', 'logistic', '--inputs', '2', '--out', model])).code).toBe(0);
    const specFile = join(model, MODEL_SPEC_FILE);
    const base = JSON.parse(await readFile(specFile, 'utf8'));
    await writeFile(specFile, JSON.stringify({ ...base, output: { kind: 'regression' } }));
    const jsonl = join(tmp, 'prices.jsonl');
    await writeFile(jsonl, '{"a":1,"b":2,"label":212.5}\n{"a":3,"b":4,"label":"-7"}\n');
    const out = join(tmp, 'prices.flkt');
    const made = await flock(['holdout', 'make', '--from', jsonl, '--model', model, '--out', out]);
    expect(made.code, made.stderr).toBe(0);
    const holdout = readHoldout(new Uint8Array(await readFile(out)));
    expect(Array.from(holdout.y)).toEqual([212.5, -7]);
    expect(Array.from(holdout.x)).toEqual([1, 2, 3, 4]);

    await writeFile(specFile, JSON.stringify({ ...base, output: { kind: 'multilabel', labels: ['urgent', 'work'] } }));
    const csv = join(tmp, 'tags.csv');
    await writeFile(csv, 'a,b,label\n1,2,urgent|work\n3,4,\n5,6,work\n7,8,"[1,0]"\n');
    const tags = await flock(['holdout', 'make', '--from', csv, '--model', model, '--out', out]);
    expect(tags.code, tags.stderr).toBe(0);
    const multi = readHoldout(new Uint8Array(await readFile(out)));
    expect(multi.targetWidth).toBe(2);
    expect(Array.from(multi.y)).toEqual([1, 1, 0, 0, 0, 1, 1, 0]);
    await writeFile(csv, 'a,b,label\n1,2,urgent|holiday\n');
    const bad = await flock(['holdout', 'make', '--from', csv, '--model', model, '--out', out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('example 1: label is "urgent|holiday"');

    const folder = await flock(['holdout', 'make', '--from', tmp, '--model', model, '--out', out]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain('has no image preprocessing');
  }, 120_000);
});
