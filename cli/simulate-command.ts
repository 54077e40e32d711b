/**
 * `flock simulate`: its flags and help. The action loads simulate.ts, and
 * with it tfjs and the simulator, only when the command runs.
 */
import type { Command } from 'commander';
import type { CliIo } from './index.ts';
import type { SimulateFlags } from './simulate.ts';
import { SECURE_AGGREGATION_OPTIONS } from './task-secure-aggregation.ts';

/** Where the progress bar goes (stderr by default). */
export type ProgressStream = NodeJS.WriteStream | { write(t: string): unknown; isTTY?: boolean };

// The protocol's STRATEGY_NAMES, written out: importing it would load zod for `--help` (help-lists.test.ts keeps the two equal).
export const STRATEGIES = 'fedavg, fedavgm, fedadam, fedyogi, fedadagrad, median, trimmed-mean, norm-bounding';

/**
 * Adds `flock simulate`.
 * @example
 * // flock simulate --model 2nn --clients 100 --fraction 0.1 --rounds 150 --target 0.97 --json
 * registerSimulateCommand(program, io);
 */
export function registerSimulateCommand(
  program: Command,
  io: CliIo,
  progressStream: ProgressStream = process.stderr,
): void {
  const command = program
    .command('simulate')
    .description(
      'federated training of N virtual clients on MNIST or SpamAssassin against an in-process coordinator or a running one (--url)',
    )
    .option('--dataset <name>', 'mnist | spamassassin (the SpamAssassin mail corpus, a text model)', 'mnist')
    .option(
      '--model <kind>',
      'mnist: 2nn | cnn | mlp-small (default 2nn); spamassassin: logistic | mlp (default logistic)',
    )
    .option('--central-epochs <n>', 'spamassassin: epochs of the central baseline (default rounds x fraction x epochs)')
    .option('--clients <n>', 'number of virtual clients N', '100')
    .option('--fraction <c>', 'fraction C of clients per round', '0.1')
    .option('--epochs <e>', 'local epochs E', '1')
    .option('--batch <b>', 'local batch size B', '10')
    .option('--lr <lr>', 'client learning rate', '0.1')
    .option('--partition <kind>', 'iid | pathological | dirichlet', 'iid')
    .option('--alpha <a>', 'Dirichlet concentration (with --partition dirichlet)', '0.5')
    .option('--rounds <r>', 'rounds to run', '50')
    .option('--target <acc>', 'report the round this test accuracy is reached', '0.97')
    .option('--strategy <name>', `server strategy (${STRATEGIES})`, 'fedavg')
    .option('--encoding <enc>', 'update encoding fp32 | fp16 | int8 | topk', 'fp32')
    .option('--topk-fraction <f>', 'fraction kept by --encoding topk (with error feedback)', '0.1')
    .option('--clip-norm <s>', 'L2 bound on each update (default: none)')
    .option('--noise-multiplier <z>', 'central DP noise multiplier (needs --clip-norm)', '0')
    .option(
      '--dropout <p>',
      'probability a selected client never reports (with --secure-aggregation: it leaves at a phase drawn uniformly from advertise, share, mask, unmask)',
      '0',
    )
    .option('--stragglers <p>', 'probability a selected client reports after the round closed', '0')
    .option('--seed <n>', 'seed for partitions, model init and client sampling', '1')
    .option('--workers <k>', 'worker threads for local training (0 = main thread)', '1')
    .option('--eval-examples <n>', 'MNIST test examples to evaluate on', '10000')
    .option('--train-examples <n>', 'use only the first N MNIST training examples (quick runs)')
    .option('--url <url>', 'simulate against a running coordinator (admin API) instead of one in this process')
    .option('--admin-key <key>', 'admin key of the --url coordinator (default: FLOCK_ADMIN_KEY)')
    .option('--app <name>', 'app the model and task are created under (default: sim, or sim-<random> with --url)')
    .option('--stop-at-target', 'stop after the first round that reaches --target')
    .option('--plot <file.svg>', 'write an SVG plot of accuracy per round')
    .option('--json', 'print the result as JSON');
  // The same secure-aggregation flags as `flock task create` (needs --clip-norm: each device clips before quantising).
  for (const [spec, description] of SECURE_AGGREGATION_OPTIONS) command.option(spec, description);
  command.action(async (flags: SimulateFlags) =>
    (await import('./simulate.ts')).runSimulateCommand(flags, io, progressStream),
  );
}
