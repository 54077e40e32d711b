/**
 * `flock status`: a coordinator at a glance. The flags live here; the action
 * loads status.ts when it runs.
 *
 * @example
 * npx flock status --url http://127.0.0.1:8787 --json
 */
import type { Command } from 'commander';
import { withConnectionOptions } from './admin-http.ts';
import type { CliIo } from './index.ts';
import type { StatusFlags } from './status.ts';

export function registerStatusCommand(program: Command, io: CliIo): void {
  withConnectionOptions(
    program
      .command('status')
      .description(
        'a coordinator at a glance: store, backend, admin key, production versions, active tasks and rollouts',
      )
      .option('--json', 'print JSON'),
  ).action(async (flags: StatusFlags) => (await import('./status.ts')).printStatus(flags, io));
}
