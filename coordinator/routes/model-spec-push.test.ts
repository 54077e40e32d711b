/**
 * `flock-model.json` through the admin push route of a real coordinator on
 * SQLite: a valid spec is stored as a blob, named in the version's topology
 * record and signed into the manifest; a bad one is a 422 naming the field,
 * and nothing is stored.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyManifest, verifyModelSpec } from '../../shared/manifest/index.ts';
import { MODEL_SPEC_FILE, type ModelSpecInput } from '../../shared/protocol/index.ts';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { writeHoldout } from '../registry/holdout.ts';
import { modelToFiles } from '../registry/model-directory.ts';
import { pushModel, registerDevice, testAdminKey, type Fetcher } from './fleet.fixture.ts';

let dataDir: string;
let flock: Coordinator;
let f: Fetcher;
const adminKey = testAdminKey();
let files: Map<string, Uint8Array>;

const textSpec: ModelSpecInput = {
  version: 1,
  preprocess: {
    version: 1,
    input: { kind: 'text', encoding: { type: 'hashing', dimensions: 32 }, output: { type: 'bag' } },
  },
  output: { kind: 'binary', threshold: 0.7, labels: ['ham', 'spam'] },
};

const withSpec = (spec: unknown) =>
  new Map([...files, [MODEL_SPEC_FILE, new TextEncoder().encode(JSON.stringify(spec))]]);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-model-spec-push-'));
  flock = await createCoordinator({ dataDir, adminKey, log: pino({ level: 'silent' }), sweep: false });
  f = async (path, init) => flock.app.request(path, init);
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [32], units: 1, activation: 'sigmoid', name: 'head' })],
  });
  files = await modelToFiles(model);
  model.dispose();
});
afterAll(async () => {
  await flock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('pushing a model with flock-model.json', () => {
  it.each([
    ['a threshold outside (0, 1)', { ...textSpec, output: { kind: 'binary', threshold: 1.5 } }, 'output.threshold'],
    [
      'features the model does not take',
      {
        ...textSpec,
        preprocess: {
          version: 1,
          input: { kind: 'text', encoding: { type: 'hashing', dimensions: 64 }, output: { type: 'bag' } },
        },
      },
      '[null, 32]',
    ],
    [
      'a multiclass head on one unit',
      { ...textSpec, output: { kind: 'multiclass', labels: ['a', 'b', 'c'] } },
      "output.kind 'multiclass'",
    ],
    ['an unknown frozen layer', { ...textSpec, frozenLayers: ['nope'] }, '"nope"'],
    ['not JSON', '{', 'not UTF-8 JSON'],
  ])('refuses %s with 422 bad_model_spec and stores no version', async (_name, spec, words) => {
    const bytes = typeof spec === 'string' ? new TextEncoder().encode(spec) : undefined;
    const upload = bytes ? new Map([...files, [MODEL_SPEC_FILE, bytes]]) : withSpec(spec);
    const res = await pushModel(f, adminKey, 'inbox', upload, 'production');
    expect(res.status).toBe(422);
    const body = (await res.json()) as { error: { code: string; message: string; details?: { reason?: string } } };
    expect(body.error.message).toContain(MODEL_SPEC_FILE);
    expect(body.error.message).toContain(words);
    expect(await flock.deps.store.latestModelVersion('inbox')).toBeNull();
  });

  it('stores the spec, and the signed manifest names its hash; round-trips through verifyModelSpec', async () => {
    const res = await pushModel(f, adminKey, 'inbox', withSpec(textSpec), 'production');
    expect(res.status).toBe(201);
    const device = await registerDevice(f, 'inbox');
    const auth = { authorization: `Bearer ${device.token}` };
    const key = (await (await f('/v1/keys/manifest')).json()) as { publicKey: string };
    const manifest = await verifyManifest(
      await (await f('/v1/apps/inbox/manifest', { headers: auth })).json(),
      key.publicKey,
    );
    expect(manifest.modelSpec).toBeDefined();
    const blob = await f(`/v1/blobs/${manifest.modelSpec!.hash}`, { headers: auth });
    expect(blob.status).toBe(200);
    const spec = await verifyModelSpec(new Uint8Array(await blob.arrayBuffer()), manifest.modelSpec!);
    expect(spec.output).toEqual({ kind: 'binary', threshold: 0.7, labels: ['ham', 'spam'] });
    expect(spec.preprocess?.input.kind).toBe('text');
    // Another's bytes under the signed reference are refused.
    const other = new TextEncoder().encode(JSON.stringify({ ...spec, output: { kind: 'binary', threshold: 0.1 } }));
    await expect(verifyModelSpec(other, manifest.modelSpec!)).rejects.toMatchObject({ code: 'hash_mismatch' });
  });

  it('scores a binary model on its holdout by the stored threshold, not by argmax over one unit', async () => {
    // Zero kernel, bias 0: p = 0.5 for every example; positive at threshold 0.5, negative at 0.7.
    const model = tf.sequential({
      layers: [
        tf.layers.dense({
          inputShape: [32],
          units: 1,
          activation: 'sigmoid',
          kernelInitializer: 'zeros',
          name: 'head',
        }),
      ],
    });
    const zero = await modelToFiles(model);
    model.dispose();
    const holdout = writeHoldout({ x: new Float32Array(4 * 32), y: Uint8Array.of(1, 1, 1, 0), inputShape: [32] });
    const accuracyAt = async (threshold: number) => {
      const form = new FormData();
      const spec = { ...textSpec, output: { kind: 'binary', threshold } };
      const upload = new Map([...zero, [MODEL_SPEC_FILE, new TextEncoder().encode(JSON.stringify(spec))]]);
      for (const [name, bytes] of upload) form.append(name, new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
      form.append('holdout', new Blob([holdout as Uint8Array<ArrayBuffer>]), 'holdout.flkt');
      const res = await f('/v1/admin/models/scored', {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}` },
        body: form,
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { accuracy: { fp32Accuracy: number } }).accuracy.fp32Accuracy;
    };
    expect(await accuracyAt(0.5)).toBe(0.75);
    expect(await accuracyAt(0.7)).toBe(0.25);
  });

  it('a model pushed without a spec has none in its manifest', async () => {
    expect((await pushModel(f, adminKey, 'plain', files, 'production')).status).toBe(201);
    const device = await registerDevice(f, 'plain');
    const key = (await (await f('/v1/keys/manifest')).json()) as { publicKey: string };
    const signed = await (
      await f('/v1/apps/plain/manifest', { headers: { authorization: `Bearer ${device.token}` } })
    ).json();
    expect((await verifyManifest(signed, key.publicKey)).modelSpec).toBeUndefined();
  });
});
