/**
 * `flock task create|list|show|pause|resume|rounds`: federated training tasks
 * from the terminal. Only the flags live here; each action loads task.ts
 * (zod and the protocol's schemas) when it runs, so `flock --help` does not.
 */
import type { Command } from 'commander';
import { withConnectionOptions } from './admin-http.ts';
import type { CliIo } from './index.ts';
import type { CreateFlags, ListFlags, OneFlags, ActionFlags } from './task.ts';
import { SECURE_AGGREGATION_OPTIONS } from './task-secure-aggregation.ts';

const tasks = () => import('./task.ts');

/**
 * Adds the `task` command group.
 *
 * @example
 * // flock task create --app digits --model-version 1 --plan plan.json
 * registerTaskCommands(program, io);
 */
export function registerTaskCommands(program: Command, io: CliIo): void {
  const task = program
    .command('task')
    .description('create federated training tasks, pause and resume them, follow their rounds');

  const create = withConnectionOptions(
    task
      .command('create')
      .description('start training a model version on devices, following a task plan')
      .requiredOption('--app <name>', 'app name')
      .requiredOption('--model-version <n>', 'registry version to train from')
      .option('--plan <file>', 'task plan JSON file (only "population" is required)')
      .option('--plan-json <json>', 'task plan as inline JSON, instead of --plan')
      .option('--name <name>', 'a name to recognise the task by')
      .option('--json', 'print JSON'),
  );
  for (const [spec, description] of SECURE_AGGREGATION_OPTIONS) create.option(spec, description);
  create.action(async (flags: CreateFlags) => (await tasks()).createTask(flags, io));

  withConnectionOptions(
    task
      .command('list')
      .description('all tasks with status, rounds and privacy spent')
      .option('--app <name>', 'only tasks of this app')
      .option('--json', 'print JSON'),
  ).action(async (flags: ListFlags) => (await tasks()).listTasks(flags, io));

  withConnectionOptions(
    task
      .command('show')
      .description('one task: plan, progress, privacy spent')
      .argument('<id>', 'task id')
      .option('--json', 'print JSON'),
  ).action(async (id: string, flags: OneFlags) => (await tasks()).showTask(id, flags, io));

  for (const action of ['pause', 'resume'] as const) {
    withConnectionOptions(
      task
        .command(action)
        .description(
          action === 'pause'
            ? 'stop opening rounds for a task (devices are told to retry later)'
            : 'let a paused task open rounds again',
        )
        .argument('<id>', 'task id')
        .option('--reason <text>', 'why, kept in the audit log (1-500 characters)')
        .option('--json', 'print JSON'),
    ).action(async (id: string, flags: ActionFlags) => (await tasks()).setTaskRunning(action, id, flags, io));
  }

  withConnectionOptions(
    task
      .command('rounds')
      .description("a task's rounds, newest first")
      .argument('<id>', 'task id')
      .option('--json', 'print JSON'),
  ).action(async (id: string, flags: OneFlags) => (await tasks()).listRounds(id, flags, io));
}
