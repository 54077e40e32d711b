/**
 * `flock holdout make`: a holdout file (coordinator/registry/holdout.ts: the
 * codec tensors x and y) from a CSV or JSONL file, through the model's own
 * preprocessing (its flock-model.json), so the coordinator checks accuracy on
 * exactly the features a device computes.
 */
import { readFile, writeFile } from 'node:fs/promises';
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
    .description("turn labelled examples (CSV or JSONL) into a holdout file through the model's preprocessing")
    .requiredOption('--from <file>', 'examples: .csv with a header row, or .jsonl with one object per line')
    .requiredOption('--model <dir>', 'the model directory (model.json and flock-model.json)')
    .requiredOption('--out <file>', 'holdout file to write, e.g. holdout.flkt')
    .option('--label-field <name>', 'field holding the label (a class index or one of the spec labels)', 'label')
    .option('--text-field <name>', 'field holding the raw text (text models)', 'text')
    .option('--json', 'print JSON')
    .action(async (flags: HoldoutMakeFlags) => makeHoldout(flags, io));
}

function labelIndex(raw: unknown, labels: readonly string[] | undefined, line: number, field: string): number {
  if (labels) {
    const at = labels.indexOf(String(raw));
    if (at >= 0) return at;
  }
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 255 || (labels && n >= labels.length))
    throw new UsageError(
      `example ${line}: ${field} is ${JSON.stringify(raw)}; use ${labels ? `one of ${labels.join(', ')} or ` : ''}a class index 0..${labels ? labels.length - 1 : 255}`,
    );
  return n;
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
  const records = await readRecordFile(f.from);
  if (records.length === 0) throw new UsageError(`${f.from} holds no examples`);
  const labels = spec?.output.kind === 'multiclass' || spec?.output.kind === 'binary' ? spec.output.labels : undefined;
  const preprocess = spec?.preprocess ? compilePreprocess(spec.preprocess) : null;
  const y = new Uint8Array(records.length);
  const rows: Float32Array[] = [];
  records.forEach((record, i) => {
    y[i] = labelIndex(record[f.labelField], labels, i + 1, f.labelField);
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
      } else {
        const kind = preprocess.spec.input.kind;
        rows.push(preprocess.apply(kind === 'text' ? record[f.textField] : record));
      }
    } catch (error) {
      if (error instanceof PreprocessInputError)
        throw new UsageError(
          `example ${i + 1}: ${error.message}${preprocess?.spec.input.kind === 'text' ? ` (--text-field ${f.textField})` : ''}`,
        );
      throw error;
    }
  });
  const width = rows[0].length;
  const bad = rows.findIndex((r) => r.length !== width);
  if (bad >= 0) throw new UsageError(`example ${bad + 1} has ${rows[bad].length} features, example 1 has ${width}`);
  const x = new Float32Array(rows.length * width);
  rows.forEach((r, i) => x.set(r, i * width));
  const shape = preprocess ? preprocess.shape : [width];
  const bytes = writeHoldout({ x, y, inputShape: shape });
  await writeFile(f.out, bytes);
  const summary = { out: f.out, count: records.length, inputShape: shape, bytes: bytes.byteLength };
  io.out(
    f.json
      ? `${JSON.stringify(summary)}\n`
      : `wrote ${records.length} examples of [${shape.join(', ')}] to ${f.out}; use it with: flock model push ${f.model} --app APP --holdout ${f.out}\n`,
  );
}
