/**
 * The version's model spec in real Chromium through flock.min.js: a binary
 * text model pushed with `flock-model.json`, `flock.predict('raw text')` in
 * the page runs the same preprocessing as Node (the same features, so the
 * same probability, on the fp32 variant), reads it by the stored threshold, `record` takes a label
 * name, and a bad input is a FlockInputError naming the field.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelToFiles } from '../../coordinator/registry/model-directory.ts';
import { compilePreprocess } from '../../shared/preprocess/index.ts';
import { MODEL_SPEC_FILE, ModelSpecSchema } from '../../shared/protocol/index.ts';
import { startHarness, type BrowserHarness } from './harness.ts';

declare const Flock: typeof import('../../client/index.ts');

const NAME_SHIM = 'window.__name = (f) => f;';
const spec = ModelSpecSchema.parse({
  version: 1,
  preprocess: {
    version: 1,
    input: { kind: 'text', charNgrams: [2, 3], encoding: { type: 'hashing', dimensions: 64 }, output: { type: 'bag' } },
  },
  output: { kind: 'binary', threshold: 0.6, labels: ['ham', 'spam'] },
});
const TEXTS = [
  'WIN a FREE cruise!!! 🚢',
  'Réunion déplacée à 15h, café en bas',
  'Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ and ελληνικά',
];

describe('model spec in Chromium', () => {
  let h: BrowserHarness;
  let model: tf.LayersModel;

  beforeAll(async () => {
    h = await startHarness();
    model = tf.sequential({
      layers: [
        tf.layers.dense({
          inputShape: [64],
          units: 1,
          activation: 'sigmoid',
          kernelInitializer: tf.initializers.randomNormal({ seed: 8, stddev: 2 }),
          name: 'spam',
        }),
      ],
    });
    const files = await modelToFiles(model);
    files.set(MODEL_SPEC_FILE, new TextEncoder().encode(JSON.stringify(spec)));
    const form = new FormData();
    for (const [name, bytes] of files) form.append(name, new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
    form.append('stage', 'production');
    const res = await fetch(`${h.origin}/v1/admin/models/inbox`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminKey}` },
      body: form,
    });
    expect(res.status).toBe(201);
  }, 300_000);

  afterAll(async () => {
    model?.dispose();
    await h?.close();
  });

  it('predicts raw text with the same features as Node, by the stored threshold', async () => {
    const context = await h.browser.newContext();
    await context.addInitScript(NAME_SHIM);
    const page = await context.newPage();
    await page.goto(h.origin);
    const answers = await page.evaluate(async (texts) => {
      const flock = await Flock.connect({
        url: location.origin,
        app: 'inbox',
        backend: 'cpu',
        variant: 'fp32',
        telemetry: false,
      });
      const out = [];
      for (const t of texts) {
        const p = await flock.predict(t);
        out.push({ kind: p.kind, probability: p.kind === 'binary' ? p.probability : null, label: p.label });
      }
      await flock.record(texts[0], 'spam');
      const examples = (await flock.status()).examples;
      const bad = await flock
        .predict({ subject: 'x' } as unknown as string)
        .catch((e: { name: string; field?: string }) => ({
          name: e.name,
          field: e.field,
        }));
      await flock.close();
      return { out, examples, bad };
    }, TEXTS);
    const pre = compilePreprocess(spec.preprocess);
    answers.out.forEach((a, i) => {
      const features = pre.apply(TEXTS[i]);
      const p = tf.tidy(() => (model.predict(tf.tensor2d(features, [1, 64])) as tf.Tensor).dataSync()[0]);
      expect(a.kind).toBe('binary');
      expect(a.probability).toBeCloseTo(p, 5);
      expect(a.label).toBe(p >= 0.6 ? 1 : 0);
    });
    expect(answers.examples).toBe(1);
    expect(answers.bad).toEqual({ name: 'FlockInputError', field: 'text' });
    await context.close();
  }, 120_000);
});
