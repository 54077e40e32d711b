/**
 * `flock model init` and `flock holdout make` through the real bin: the
 * directory it writes is one the registry accepts (its spec fits the model),
 * and the holdout holds the features the model's own spec computes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHoldout } from '../coordinator/registry/holdout.ts';
import { readModelDirectory } from '../coordinator/registry/model-directory.ts';
import { assertSpecFitsModel, parseModelSpecFile } from '../coordinator/registry/model-spec-file.ts';
import { compilePreprocess } from '../shared/preprocess/index.ts';
import { MODEL_SPEC_FILE } from '../shared/protocol/index.ts';

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

async function specOf(dir: string) {
  const files = new Map([[MODEL_SPEC_FILE, new Uint8Array(await readFile(join(dir, MODEL_SPEC_FILE)))]]);
  const spec = parseModelSpecFile(files)!;
  assertSpecFitsModel(spec, await readModelDirectory(dir));
  return spec;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flock-model-init-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('flock model init and flock holdout make', () => {
  it("writes a text-hash model whose spec fits it, and a holdout of that spec's features", async () => {
    const dir = join(tmp, 'inbox');
    const init = await flock([
      'model',
      'init',
      '--template',
      'text-hash',
      '--labels',
      'ham,spam',
      '--text-dimensions',
      '512',
      '--out',
      dir,
      '--json',
    ]);
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ inputShape: [512], params: 512 * 2 + 2 });
    const spec = await specOf(dir);
    expect(spec.output).toEqual({ kind: 'multiclass', labels: ['ham', 'spam'] });

    const jsonl = join(tmp, 'mails.jsonl');
    await writeFile(jsonl, '{"text":"WIN a FREE cruise 🚢 now","label":"spam"}\n{"text":"Réunion à 10h","label":0}\n');
    const csv = join(tmp, 'mails.csv');
    await writeFile(csv, 'label,text\nspam,"WIN a FREE cruise 🚢 now"\nham,"Réunion à 10h"\n');
    const p = compilePreprocess(spec.preprocess);
    for (const from of [jsonl, csv]) {
      const out = `${from}.flkt`;
      const made = await flock(['holdout', 'make', '--from', from, '--model', dir, '--out', out]);
      expect(made.code, made.stderr).toBe(0);
      const holdout = readHoldout(new Uint8Array(await readFile(out)));
      expect(holdout.inputShape).toEqual([512]);
      expect(Array.from(holdout.y)).toEqual([1, 0]);
      expect(Array.from(holdout.x.subarray(0, 512))).toEqual(Array.from(p.apply('WIN a FREE cruise 🚢 now')));
    }
  }, 120_000);

  it('writes cnn, text-embedding and binary logistic models the registry accepts', async () => {
    for (const args of [
      ['--template', 'cnn', '--image', '16x16x3', '--classes', '4'],
      ['--template', 'text-embedding', '--text-dimensions', '1000', '--max-length', '32'],
      ['--template', 'logistic', '--inputs', '8', '--output', 'binary'],
    ]) {
      const dir = join(tmp, args[1]);
      const r = await flock(['model', 'init', ...args, '--out', dir]);
      expect(r.code, r.stderr).toBe(0);
      await specOf(dir);
    }
  }, 120_000);

  it('exits 2 naming the flag on a bad template, a missing size or a label outside the spec', async () => {
    const bad = await flock(['model', 'init', '--template', 'resnet', '--out', join(tmp, 'x')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--template');
    const noInputs = await flock(['model', 'init', '--template', 'mlp', '--out', join(tmp, 'y')]);
    expect(noInputs.code).toBe(2);
    expect(noInputs.stderr).toContain('--inputs');
    const file = join(tmp, 'odd.jsonl');
    await writeFile(file, '{"text":"hello","label":"eggs"}\n');
    const odd = await flock([
      'holdout',
      'make',
      '--from',
      file,
      '--model',
      join(tmp, 'inbox'),
      '--out',
      join(tmp, 'o.flkt'),
    ]);
    expect(odd.code).toBe(2);
    expect(odd.stderr).toContain('ham, spam');
  }, 120_000);

  it('--freeze writes frozenLayers the registry accepts: base is every layer with weights but the head', async () => {
    const cnn = join(tmp, 'cnn-frozen');
    const r = await flock(['model', 'init', '--template', 'cnn', '--freeze', 'base', '--out', cnn]);
    expect(r.code, r.stderr).toBe(0);
    expect((await specOf(cnn)).frozenLayers).toEqual(['conv1', 'conv2', 'hidden1']);
    const mlp = join(tmp, 'mlp-frozen');
    const named = await flock([
      'model',
      'init',
      '--template',
      'mlp',
      '--inputs',
      '8',
      '--freeze',
      'hidden1',
      '--out',
      mlp,
    ]);
    expect(named.code, named.stderr).toBe(0);
    expect((await specOf(mlp)).frozenLayers).toEqual(['hidden1']);
  }, 120_000);

  it('--freeze exits 2 on a layer the template lacks and on freezing the head too', async () => {
    const unknown = await flock([
      'model',
      'init',
      '--template',
      'mlp',
      '--inputs',
      '8',
      '--freeze',
      'conv1',
      '--out',
      join(tmp, 'f1'),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--freeze: cannot freeze conv1');
    expect(unknown.stderr).toContain('hidden1, output');
    const all = await flock([
      'model',
      'init',
      '--template',
      'mlp',
      '--inputs',
      '8',
      '--freeze',
      'hidden1,output',
      '--out',
      join(tmp, 'f2'),
    ]);
    expect(all.code).toBe(2);
    expect(all.stderr).toContain('nothing to train');
    const logistic = await flock([
      'model',
      'init',
      '--template',
      'logistic',
      '--inputs',
      '8',
      '--freeze',
      'base',
      '--out',
      join(tmp, 'f3'),
    ]);
    expect(logistic.code).toBe(2);
    expect(logistic.stderr).toContain('no layer with weights besides its head');
  }, 120_000);
});
