/**
 * `flock model push|list|show|stage`: the model registry from the terminal.
 * Only the flags live here; each action loads model.ts (the registry's
 * model-file checks, which load tfjs) when it runs.
 */
import type { Command } from 'commander';
import { withConnectionOptions } from './admin-http.ts';
import type { CliIo } from './index.ts';
import type { AppFlags, PushFlags, ShowFlags, StageFlags } from './model.ts';
import type { InitFlags } from './model-init.ts';

const models = () => import('./model.ts');
// The protocol's MODEL_STAGES, written out: importing it would load zod for `--help` (help-lists.test.ts keeps the two equal).
export const STAGES = 'candidate, canary, production, archived';

/**
 * Adds the `model` command group.
 *
 * @example
 * // flock model push ./digits-model --app digits --holdout holdout.flkt
 * registerModelCommands(program, io);
 */
export function registerModelCommands(program: Command, io: CliIo): void {
  // `model show --version N` would otherwise be taken by the root program's
  // own --version flag, wherever it appears on the line.
  const model = program
    .command('model')
    .description('push models to the registry, list versions, move them between stages');

  withConnectionOptions(
    model
      .command('push')
      .description('upload a tfjs LayersModel folder (model.json + weight files) as a new version')
      .argument('<dir>', 'folder written by tf.LayersModel.save()')
      .requiredOption('--app <name>', 'app the model belongs to, e.g. digits')
      .option('--holdout <file>', 'holdout codec file (tensors x, y) to check quantized variants against')
      .option('--stage <stage>', `initial stage: ${STAGES} (default candidate)`)
      .option('--json', 'print JSON'),
  ).action(async (dir: string, flags: PushFlags) => (await models()).pushModel(dir, flags, io));

  model
    .command('init')
    .description('write a new model directory (model.json, weights.bin, flock-model.json) from a template')
    .requiredOption('--template <name>', 'logistic | mlp | cnn | text-hash | text-embedding')
    .requiredOption('--out <dir>', 'directory to write')
    .option('--classes <k>', 'number of classes (default 2, or the number of --labels)')
    .option('--labels <a,b,...>', 'class names, in label order')
    .option('--output <kind>', 'multiclass (softmax) | binary (one sigmoid)', 'multiclass')
    .option('--inputs <n>', 'logistic, mlp: features per example')
    .option('--image <WxHxC>', 'cnn: image size and channels (1 or 3)', '28x28x1')
    .option('--text-dimensions <n>', 'text-hash, text-embedding: hashing buckets (MurmurHash3)', '4096')
    .option('--char-ngrams <min-max>', 'text-hash, text-embedding: also character n-grams, e.g. 3-5')
    .option('--max-length <n>', 'text-embedding: tokens per text', '256')
    .option('--hidden <n>', 'hidden units (mlp default 64, cnn 128, text-hash 0 = logistic)')
    .option('--seed <n>', 'seed of the initial weights', '1')
    .option('--freeze <layers>', "transfer learning: 'base' (all but the output head) or layer names, comma-separated")
    .option('--force', 'overwrite a model already in --out')
    .option('--json', 'print JSON')
    .action(async (flags: InitFlags) => (await import('./model-init.ts')).initModel(flags, io));

  withConnectionOptions(
    model
      .command('list')
      .description("list an app's versions, newest first")
      .requiredOption('--app <name>', 'app name')
      .option('--json', 'print JSON'),
  ).action(async (flags: AppFlags) => (await models()).listVersions(flags, io));

  withConnectionOptions(
    model
      .command('show')
      .description('one version with its lineage, metrics and variants')
      .requiredOption('--app <name>', 'app name')
      .requiredOption('--version <n>', 'version number')
      .option('--json', 'print JSON'),
  ).action(async (flags: ShowFlags) => (await models()).showVersion(flags, io));

  withConnectionOptions(
    model
      .command('stage')
      .description('move a version to another stage (audited; production publishes a signed manifest)')
      .requiredOption('--app <name>', 'app name')
      .requiredOption('--version <n>', 'version number')
      .requiredOption('--to <stage>', `new stage: ${STAGES}`)
      .option('--reason <text>', 'why, for the audit log')
      .option('--json', 'print JSON'),
  ).action(async (flags: StageFlags) => (await models()).stageVersion(flags, io));
}
