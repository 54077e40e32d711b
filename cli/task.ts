/**
 * What `flock task create|list|show|pause|resume|rounds` do (their flags are
 * in task-commands.ts, which loads this file only when one runs).
 *
 * `create` validates the plan with the protocol's own TaskPlanSchema before
 * sending it, so a misspelt key or an impossible setting is a usage error
 * naming the field, the same message the coordinator would give.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import {
  AppNameSchema,
  RoundViewSchema,
  TaskPlanSchema,
  TaskViewSchema,
  type SecAggRoundStats,
  type TaskPlanInput,
} from '../shared/protocol/index.ts';
import { adminRequest, cell, renderTable, resolveConnection, type ConnectionFlags } from './admin-http.ts';
import type { CliIo } from './index.ts';
import { parseIntegerFlag, UsageError } from './usage-error.ts';
import { type SecureAggregationFlags, withSecureAggregationFlags } from './task-secure-aggregation.ts';

// TaskViewSchema's privacySpent reuses PrivacyBudgetSchema (epsilon > 0), but a
// DP task that has not closed a round yet has spent exactly 0: accept that.
const TaskAnswerSchema = TaskViewSchema.extend({
  privacySpent: z.object({ epsilon: z.number().min(0), delta: z.number() }).nullable(),
});
type TaskAnswer = z.output<typeof TaskAnswerSchema>;
const TaskListSchema = z.object({ tasks: z.array(TaskAnswerSchema) });
const RoundListSchema = z.object({
  rounds: z.array(RoundViewSchema.extend({ metrics: z.record(z.string(), z.unknown()) })),
});

/**
 * Parses and validates a task plan given as JSON text; `source` names where
 * it came from in error messages.
 * @throws UsageError naming the first bad field, e.g. `plan.population: ...`.
 *
 * @example
 * const plan = parsePlanText('{"population": 100, "clientsPerRound": 5}', '--plan-json');
 */
export function parsePlanText(
  text: string,
  source: string,
  amend: (raw: unknown) => unknown = (r) => r,
): TaskPlanInput {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${source} is not valid JSON (${(error as Error).message})`);
  }
  raw = amend(raw);
  const result = TaskPlanSchema.safeParse(raw);
  if (!result.success) {
    // A misspelt key also makes the real one "missing"; naming the typo first says what to fix.
    const issues = [...result.error.issues].sort(
      (a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'),
    );
    const shown = issues.slice(0, 3).map((i) => `${['plan', ...i.path.map(String)].join('.')}: ${i.message}`);
    const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
    throw new UsageError(`${source}: ${shown.join('; ')}${more}`);
  }
  // Send what the operator wrote; the coordinator fills the same defaults.
  return raw as TaskPlanInput;
}

/** hc puts path parameters in as given: encode them. */
const taskParam = (id: string) => ({ id: encodeURIComponent(id) });

function epsilonOf(t: TaskAnswer): string {
  if (!t.privacySpent) return '-';
  const budget = t.plan.privacyBudget;
  return budget ? `${cell(t.privacySpent.epsilon)}/${budget.epsilon}` : cell(t.privacySpent.epsilon);
}

/** Human text for one task: plan essentials, progress and privacy spent. */
export function describeTask(t: TaskAnswer): string {
  const p = t.plan;
  const lines = [
    `task ${t.id}  ${t.status}`,
    `name        ${cell(t.name)}`,
    `app         ${t.app} from v${t.modelVersion}`,
    `created     ${t.createdAt}`,
    `rounds      ${t.roundsCompleted} completed${t.currentRound ? `; round ${t.currentRound.roundNumber} ${t.currentRound.state}, ${t.currentRound.reports}/${t.currentRound.selected} reports, deadline ${t.currentRound.deadlineAt}` : ''}`,
    `selection   ${p.clientsPerRound} clients/round of ${p.population} (min ${p.minReports} reports, over-selection ${p.overSelection}, deadline ${p.roundDeadlineSeconds} s)`,
    `training    ${p.localEpochs} epoch(s), batch ${p.batchSize}, lr ${p.learningRate}, strategy ${p.strategy.name}, updates ${p.updateEncoding.encoding}`,
    `privacy     clip norm ${p.clipNorm}, noise multiplier ${p.noiseMultiplier}${p.privacyBudget ? `, budget epsilon ${p.privacyBudget.epsilon} at delta ${p.privacyBudget.delta}` : ''}, spent ${t.privacySpent ? cell(t.privacySpent.epsilon) : '- (no central DP)'}`,
  ];
  const s = p.secureAggregation;
  if (s)
    lines.push(
      `secure agg  SecAgg+ ${s.bits} bits, ${s.neighbours === undefined ? 'sparsest safe graph' : `k ${s.neighbours}${s.threshold === undefined ? '' : `, t ${s.threshold}`}`}, min ${s.minSurvivors ?? p.minReports} survivors, distributed noise multiplier ${s.noiseMultiplier}`,
    );
  return `${lines.join('\n')}\n`;
}

export interface CreateFlags extends ConnectionFlags, SecureAggregationFlags {
  app: string;
  modelVersion: string;
  plan?: string;
  planJson?: string;
  name?: string;
  json?: boolean;
}
export interface ListFlags extends ConnectionFlags {
  app?: string;
  json?: boolean;
}
export interface OneFlags extends ConnectionFlags {
  json?: boolean;
}
/** An operator action's flags: `--reason` goes to the audit entry. */
export interface ActionFlags extends OneFlags {
  reason?: string;
}

/** `flock task create`: checks the plan, then creates the task. */
export async function createTask(flags: CreateFlags, io: CliIo): Promise<void> {
  const app = AppNameSchema.safeParse(flags.app);
  if (!app.success)
    throw new UsageError(`--app: ${app.error.issues[0]?.message ?? 'invalid app name'}, got "${flags.app}"`);
  const modelVersion = parseIntegerFlag('--model-version', flags.modelVersion);
  if ((flags.plan === undefined) === (flags.planJson === undefined)) {
    throw new UsageError(
      'give the task plan with exactly one of --plan FILE.json or --plan-json \'{"population": 1000}\'',
    );
  }
  let plan: TaskPlanInput;
  const amend = (raw: unknown) => withSecureAggregationFlags(raw, flags);
  if (flags.plan !== undefined) {
    let text: string;
    try {
      text = await readFile(flags.plan, 'utf8');
    } catch {
      throw new UsageError(`--plan file "${flags.plan}" cannot be read; check the path`);
    }
    plan = parsePlanText(text, flags.plan, amend);
  } else {
    plan = parsePlanText(flags.planJson ?? '', '--plan-json', amend);
  }
  if (flags.name !== undefined && (flags.name.length < 1 || flags.name.length > 128))
    throw new UsageError('--name must be 1 to 128 characters');
  const body = { app: app.data, modelVersion, plan, ...(flags.name === undefined ? {} : { name: flags.name }) };
  const created = await adminRequest(resolveConnection(flags), {
    call: (api) => api.v1.admin.tasks.$post({ json: body }),
    schema: TaskAnswerSchema,
  });
  io.out(flags.json ? `${JSON.stringify(created)}\n` : `created task ${created.id}\n${describeTask(created)}`);
}

/** `flock task list`. */
export async function listTasks(flags: ListFlags, io: CliIo): Promise<void> {
  const { tasks: all } = await adminRequest(resolveConnection(flags), {
    call: (api) => api.v1.admin.tasks.$get(),
    schema: TaskListSchema,
  });
  const tasks = flags.app === undefined ? all : all.filter((t) => t.app === flags.app);
  if (flags.json) return io.out(`${JSON.stringify(tasks)}\n`);
  if (tasks.length === 0) {
    const which =
      flags.app === undefined
        ? 'no tasks yet'
        : `no tasks for app ${flags.app}${all.length ? ` (${all.length} for other apps)` : ''}`;
    return io.out(
      `${which}; create one with "flock task create --app ${flags.app ?? 'NAME'} --model-version N --plan plan.json"\n`,
    );
  }
  io.out(
    renderTable(
      ['id', 'app', 'version', 'status', 'rounds', 'epsilon', 'name', 'created'],
      tasks.map((t) => [
        t.id,
        t.app,
        String(t.modelVersion),
        t.status,
        String(t.roundsCompleted),
        epsilonOf(t),
        cell(t.name),
        t.createdAt,
      ]),
    ),
  );
}

/** `flock task show ID`. */
export async function showTask(id: string, flags: OneFlags, io: CliIo): Promise<void> {
  const t = await adminRequest(resolveConnection(flags), {
    call: (api) => api.v1.admin.tasks[':id'].$get({ param: taskParam(id) }),
    schema: TaskAnswerSchema,
  });
  io.out(flags.json ? `${JSON.stringify(t)}\n` : describeTask(t));
}

/** `flock task pause|resume ID`. */
export async function setTaskRunning(
  action: 'pause' | 'resume',
  id: string,
  flags: ActionFlags,
  io: CliIo,
): Promise<void> {
  const t = await adminRequest(resolveConnection(flags), {
    call: (api) =>
      api.v1.admin.tasks[':id'][action].$post({
        param: taskParam(id),
        json: flags.reason === undefined ? {} : { reason: flags.reason },
      }),
    schema: TaskAnswerSchema,
  });
  io.out(flags.json ? `${JSON.stringify(t)}\n` : `task ${t.id} is now ${t.status}\n`);
}

/** A holdout figure of a round (plan.evaluation), or '-' when the task does not evaluate. */
function metricCell(metrics: Record<string, unknown>, key: 'holdoutAccuracy' | 'holdoutLoss'): string {
  const value = metrics[key];
  return typeof value === 'number' ? value.toFixed(4) : '-';
}

/** A secure-aggregation round's survivors per phase (of those selected), why it aborted, the epsilon it was charged. */
function secAggCells(stats: SecAggRoundStats | null): string[] {
  if (!stats) return ['-', '-', '-'];
  const { selected, advertised, shared, masked, unmasked } = stats;
  return [
    `${selected}/${advertised}/${shared}/${masked}/${unmasked} (${stats.phase})`,
    cell(stats.abortReason),
    stats.epsilonSpent === null ? '-' : stats.epsilonSpent.toFixed(3),
  ];
}

/** `flock task rounds ID`. */
export async function listRounds(id: string, flags: OneFlags, io: CliIo): Promise<void> {
  const conn = resolveConnection(flags);
  // A task that does not exist answers 404 here (not an empty round list).
  await adminRequest(conn, {
    call: (api) => api.v1.admin.tasks[':id'].$get({ param: taskParam(id) }),
    schema: TaskAnswerSchema,
  });
  const { rounds } = await adminRequest(conn, {
    call: (api) => api.v1.admin.tasks[':id'].rounds.$get({ param: taskParam(id) }),
    schema: RoundListSchema,
  });
  if (flags.json) return io.out(`${JSON.stringify(rounds)}\n`);
  if (rounds.length === 0) return io.out(`task ${id} has no rounds yet; rounds open when eligible devices check in\n`);
  const secure = rounds.some((r) => r.secureAggregation);
  io.out(
    renderTable(
      [
        'round',
        'id',
        'state',
        'from',
        'selected',
        'reports',
        'result',
        'accuracy',
        'loss',
        'opened',
        'closed',
        'failure',
        ...(secure ? ['secagg sel/adv/shr/msk/unm', 'abort', 'epsilon'] : []),
      ],
      rounds.map((r) => [
        String(r.roundNumber),
        r.id,
        r.state,
        `v${r.globalVersion}`,
        String(r.selected),
        String(r.reports),
        r.resultVersion === null ? '-' : `v${r.resultVersion}`,
        metricCell(r.metrics, 'holdoutAccuracy'),
        metricCell(r.metrics, 'holdoutLoss'),
        r.openedAt,
        cell(r.closedAt),
        cell(r.failureReason ?? (r.metrics.holdoutError as string | undefined)),
        ...(secure ? secAggCells(r.secureAggregation ?? null) : []),
      ]),
    ),
  );
}
