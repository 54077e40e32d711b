/**
 * `flock holdout make`: a holdout file (coordinator/registry/holdout.ts: the
 * codec tensors x and y) from a CSV or JSONL file, or a folder of images
 * (one subfolder per label), through the model's own preprocessing (its
 * flock-model.json), so the coordinator scores the model on exactly the
 * features a device computes. Targets follow the spec's output kind
 * (holdout-targets.ts).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { CliIo } from './index.ts';
import { UsageError } from './usage-error.ts';

export interface HoldoutMakeFlags {
  from: string;
  model: string;
  out: string;
  labelField: string;
  textField: string;
  json?: boolean;
}

/** Adds `flock holdout make`. */
export function registerHoldoutCommands(program: Command, io: CliIo): void {
  program
    .command('holdout')
    .description('make holdout files for `flock model push --holdout`')
    .command('make')
    .description(
      "turn labelled examples (CSV, JSONL or a folder of images) into a holdout file through the model's preprocessing",
    )
    .requiredOption(
      '--from <path>',
      'examples: .csv with a header row, .jsonl with one object per line, or a folder with one subfolder of PNG/JPEG images per label',
    )
    .requiredOption('--model <dir>', 'the model directory (model.json and flock-model.json)')
    .requiredOption('--out <file>', 'holdout file to write, e.g. holdout.flkt')
    .option(
      '--label-field <name>',
      'field holding the target: a class index or spec label; multilabel: labels joined by | or a JSON array; regression: a number',
      'label',
    )
    .option('--text-field <name>', 'field holding the raw text (text models)', 'text')
    .option('--json', 'print JSON')
    .action(async (flags: HoldoutMakeFlags) => makeHoldout(flags, io));
}

/** `flock holdout make`. */
export async function makeHoldout(f: HoldoutMakeFlags, io: CliIo): Promise<void> {
  const [{ compilePreprocess, PreprocessInputError }, { MODEL_SPEC_FILE }, { writeHoldout }, { parseModelJson }] =
    await Promise.all([
      import('../shared/preprocess/index.ts'),
      import('../shared/protocol/index.ts'),
      import('../coordinator/registry/holdout.ts'),
      import('../coordinator/registry/model-files.ts'),
    ]);
  const { parseModelSpecFile } = await import('../coordinator/registry/model-spec-file.ts');
  const { readRecordFile } = await import('./record-file.ts');
  const { targetOf } = await import('./holdout-targets.ts');
  let modelJson: Uint8Array;
  try {
    modelJson = new Uint8Array(await readFile(join(f.model, 'model.json')));
  } catch {
    throw new UsageError(
      `no model.json in ${f.model}; point --model at a model directory (flock model init writes one)`,
    );
  }
  parseModelJson(modelJson); // a broken model.json is named now, not at push time
  let specBytes: Uint8Array | undefined;
  try {
    specBytes = new Uint8Array(await readFile(join(f.model, MODEL_SPEC_FILE)));
  } catch {
    specBytes = undefined;
  }
  const spec = specBytes ? parseModelSpecFile(new Map([[MODEL_SPEC_FILE, specBytes]])) : null;
  const output = spec?.output ?? { kind: 'multiclass' as const };
  const preprocess = spec?.preprocess ? compilePreprocess(spec.preprocess) : null;
  const kind = preprocess?.spec.input.kind;
  const fromFolder = (await stat(f.from).catch(() => null))?.isDirectory() ?? false;
  const targets: number[][] = [];
  const rows: Float32Array[] = [];
  const fail = (where: string, error: unknown, hint = ''): never => {
    if (error instanceof PreprocessInputError) throw new UsageError(`${where}: ${error.message}${hint}`);
    throw error;
  };
  if (fromFolder) {
    if (kind !== 'image')
      throw new UsageError(
        `${f.from} is a folder of images but ${f.model} ${kind ? `reads ${kind}` : 'has no image preprocessing'} (flock-model.json preprocess.input.kind must be "image"); pass a .csv or .jsonl`,
      );
    if (output.kind !== 'multiclass' && output.kind !== 'binary')
      throw new UsageError(
        `a folder gives one class per subfolder; a ${output.kind} model needs its targets in a .csv or .jsonl`,
      );
    const { readImageFolder } = await import('./holdout-images.ts');
    for (const [i, { label, file, image }] of (await readImageFolder(f.from)).entries()) {
      targets.push(targetOf(label, output, i + 1, `the subfolder of ${file}`));
      try {
        rows.push(preprocess!.apply(image));
      } catch (error) {
        fail(file, error);
      }
    }
  } else {
    const records = await readRecordFile(f.from);
    if (records.length === 0) throw new UsageError(`${f.from} holds no examples`);
    records.forEach((record, i) => {
      targets.push(targetOf(record[f.labelField], output, i + 1, f.labelField));
      try {
        if (!preprocess) {
          const values = Object.entries(record)
            .filter(([k]) => k !== f.labelField)
            .map(([k, v]) => {
              const n = typeof v === 'number' ? v : Number(v);
              if (v === '' || !Number.isFinite(n)) throw new UsageError(`example ${i + 1}: ${k} is not a number`);
              return n;
            });
          rows.push(Float32Array.from(values));
        } else rows.push(preprocess.apply(kind === 'text' ? record[f.textField] : record));
      } catch (error) {
        fail(`example ${i + 1}`, error, kind === 'text' ? ` (--text-field ${f.textField})` : '');
      }
    });
  }
  const targetWidth = targets[0].length;
  const ragged = targets.findIndex((t) => t.length !== targetWidth);
  if (ragged >= 0)
    throw new UsageError(
      `example ${ragged + 1} has ${targets[ragged].length} target values, example 1 has ${targetWidth}`,
    );
  const width = rows[0].length;
  const bad = rows.findIndex((r) => r.length !== width);
  if (bad >= 0) throw new UsageError(`example ${bad + 1} has ${rows[bad].length} features, example 1 has ${width}`);
  const x = new Float32Array(rows.length * width);
  rows.forEach((r, i) => x.set(r, i * width));
  const shape = preprocess ? preprocess.shape : [width];
  const bytes = writeHoldout({ x, y: targets.flat(), targetWidth, inputShape: shape });
  await writeFile(f.out, bytes);
  const count = rows.length;
  const summary = { out: f.out, count, inputShape: shape, targetWidth, output: output.kind, bytes: bytes.byteLength };
  io.out(
    f.json
      ? `${JSON.stringify(summary)}\n`
      : `wrote ${count} examples of [${shape.join(', ')}] to ${f.out}; use it with: flock model push ${f.model} --app APP --holdout ${f.out}\n`,
  );
}
