/**
 * `flock rollout start|list|show|pause|resume|promote|abort`: canary rollouts
 * from the terminal. Only the flags live here; each action loads rollout.ts
 * when it runs, so `flock --help` loads no schema.
 *
 * @example
 * // flock rollout start --app digits --candidate 2 --stages 5,25,50,100 --min-stage-seconds 3600
 */
import type { Command } from 'commander';
import { withConnectionOptions } from './admin-http.ts';
import type { CliIo } from './index.ts';
import type { ActionFlags, ListFlags, OneFlags, StartFlags } from './rollout.ts';

const rollouts = () => import('./rollout.ts');

export function registerRolloutCommands(program: Command, io: CliIo): void {
  const rollout = program
    .command('rollout')
    .description('roll a candidate model out to canary cohorts; pause, resume, promote or abort');

  withConnectionOptions(
    rollout
      .command('start')
      .description('start a staged canary rollout of a candidate version')
      .requiredOption('--app <app>', 'app name')
      .requiredOption('--candidate <version>', 'candidate model version')
      .option('--stages <list>', 'canary percentages per stage (default 5,25,50,100)')
      .option('--min-stage-seconds <s>', 'minimum time per stage (default 3600)')
      .option('--min-samples <n>', 'minimum exposed canary devices per stage (default 50)')
      .option('--metrics-json <json>', 'per-metric overrides, e.g. \'{"accuracy":{"threshold":0.01}}\'')
      .option('--shadow-version <version>', 'also run this version as a shadow (compared, never shown)')
      .option('--shadow-sample-rate <rate>', 'share of inferences run on the shadow, in (0, 1] (default 0.1)')
      .option('--json', 'print JSON'),
  ).action(async (flags: StartFlags) => (await rollouts()).startRollout(flags, io));

  withConnectionOptions(
    rollout
      .command('list')
      .description('rollouts, newest first')
      .option('--app <app>', 'only this app')
      .option('--json', 'print JSON'),
  ).action(async (flags: ListFlags) => (await rollouts()).listRollouts(flags, io));

  withConnectionOptions(
    rollout
      .command('show')
      .description('one rollout with its latest verdict and evidence')
      .argument('<id>', 'rollout id')
      .option('--json', 'print JSON'),
  ).action(async (id: string, flags: OneFlags) => (await rollouts()).showRollout(id, flags, io));

  for (const action of ['pause', 'resume', 'promote', 'abort'] as const) {
    withConnectionOptions(
      rollout
        .command(action)
        .description(`${action} a rollout`)
        .argument('<id>', 'rollout id')
        .option('--reason <text>', 'why, kept in the audit log (1-500 characters)')
        .option('--json', 'print JSON'),
    ).action(async (id: string, flags: ActionFlags) => (await rollouts()).actOnRollout(action, id, flags, io));
  }
}
