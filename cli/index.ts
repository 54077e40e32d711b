/**
 * The `flock` command line: one commander program, one file per command group.
 * `main` never calls process.exit, so tests can drive it in-process; it returns
 * the exit code (0 ok, 1 failure, 2 usage error).
 */
import { unknownOptionError } from './unknown-options.ts';
import { Command, CommanderError } from 'commander';
import { UsageError } from './usage-error.ts';
import { registerAdminKeyCommand } from './admin-key.ts';
import { registerModelCommands } from './model-commands.ts';
import { registerHoldoutCommands } from './holdout.ts';
import { registerPrivacyCommands } from './privacy.ts';
import { registerRolloutCommands } from './rollout-commands.ts';
import { registerBanditCommands } from './bandit-commands.ts';
import { registerServeCommand } from './serve-command.ts';
import { registerSimulateCommand } from './simulate-command.ts';
import { registerTaskCommands } from './task-commands.ts';
import { registerStatusCommand } from './status-command.ts';

const VERSION = '0.1.0';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Commands that run tfjs (the others never load it). */
const TFJS_COMMANDS = new Set(['serve', 'simulate']);

/** Builds the program; command groups add themselves here. */
export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('flock')
    .description('Flock: federated learning and on-device inference for the web')
    .version(VERSION)
    .exitOverride()
    // Subcommands have their own options (e.g. `model show --version N` must not hit the root --version).
    .enablePositionalOptions()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true);
  // tfjs prints a "Hi, looks like you are running TensorFlow.js in Node.js"
  // banner on its first CPU tensor; a CLI that tells the truth prints only its
  // own lines (the backend in use is in serve's banner and /healthz).
  program.hook('preAction', async (_root, action) => {
    let top = action;
    while (top.parent && top.parent !== program) top = top.parent;
    if (TFJS_COMMANDS.has(top.name())) (await import('@tensorflow/tfjs')).env().set('PROD', true);
  });
  registerServeCommand(program, io);
  registerPrivacyCommands(program, io);
  registerModelCommands(program, io);
  registerHoldoutCommands(program, io);
  registerTaskCommands(program, io);
  registerRolloutCommands(program, io);
  registerBanditCommands(program, io);
  registerAdminKeyCommand(program, io);
  registerSimulateCommand(program, io);
  registerStatusCommand(program, io);
  return program;
}

/** Runs the CLI on `argv` (as in process.argv) and resolves to the exit code. */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  const unknown = unknownOptionError(program, argv);
  if (unknown !== null) {
    io.err(`error: ${unknown}\n(run with --help for usage)\n`);
    return 2;
  }
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      if (error.code === 'commander.help') return 0;
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      io.err(`error: ${error.message}\n`);
      return 2;
    }
    io.err(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
