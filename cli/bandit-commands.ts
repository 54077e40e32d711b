/**
 * `flock bandit start|show|reallocate|stop`: bandit mode from the terminal.
 * Only the flags live here; each action loads bandit.ts when it runs.
 *
 * @example
 * // flock bandit start --app digits --versions 3,4 --reallocate-seconds 600
 */
import type { Command } from 'commander';
import { withConnectionOptions } from './admin-http.ts';
import type { BanditFlags, StartFlags } from './bandit.ts';
import type { CliIo } from './index.ts';

const bandits = () => import('./bandit.ts');

export function registerBanditCommands(program: Command, io: CliIo): void {
  const bandit = program
    .command('bandit')
    .description('bandit mode: Thompson sampling allocates traffic between versions by labelled feedback');

  withConnectionOptions(
    bandit
      .command('start')
      .description("start splitting an app's traffic between versions")
      .requiredOption('--app <app>', 'app name')
      .requiredOption('--versions <list>', 'versions, e.g. 3,4')
      .option('--reallocate-seconds <s>', 'seconds between reallocations (default 300)')
      .option('--json', 'print JSON'),
  ).action(async (flags: StartFlags) => (await bandits()).startBandit(flags, io));

  for (const [name, description] of [
    ['show', 'allocation and rewards'],
    ['reallocate', 'reallocate now from the feedback so far'],
    ['stop', 'stop; devices return to the production version'],
  ] as const) {
    withConnectionOptions(
      bandit
        .command(name)
        .description(description)
        .requiredOption('--app <app>', 'app name')
        .option('--json', 'print JSON'),
    ).action(async (flags: BanditFlags) => (await bandits()).actOnBandit(name, flags, io));
  }
}
