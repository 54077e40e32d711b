/**
 * Training tasks: the plan, the privacy budget and accountant state, and the
 * server-side training state (current global version, optimizer slots blob,
 * adaptive clip norm) that must survive a restart.
 */
import { StoreError } from './errors.ts';
import { isForeignKeyViolation, isUniqueViolation, pageLimit, pageOffset } from './context.ts';
import type { OpsContext } from './context.ts';
import { toJson, toTask } from './rows.ts';
import type { TasksTable } from './schema.ts';
import type { StoreOps } from './store.ts';
import { TASK_STATUSES } from './types.ts';

type TaskOps = Pick<StoreOps, 'createTask' | 'getTask' | 'listTasks' | 'updateTask'>;

function assertTaskStatus(status: string): void {
  if (!(TASK_STATUSES as readonly string[]).includes(status)) {
    throw new StoreError(
      'invalid',
      `Unknown task status ${JSON.stringify(status)}; use one of ${TASK_STATUSES.join(', ')}.`,
    );
  }
}

export function taskOps(ctx: OpsContext): TaskOps {
  return {
    async createTask(input) {
      const status = input.status ?? 'active';
      assertTaskStatus(status);
      if (!(input.budget.epsilon > 0) || !(input.budget.delta > 0 && input.budget.delta < 1)) {
        throw new StoreError(
          'invalid',
          `A privacy budget needs epsilon > 0 and 0 < delta < 1, got ${JSON.stringify(input.budget)}.`,
        );
      }
      const at = ctx.now();
      const row: TasksTable = {
        id: input.id ?? ctx.newId(),
        app: input.app,
        name: input.name,
        model_version: input.modelVersion,
        current_version: input.modelVersion,
        plan: toJson(input.plan),
        status,
        budget_epsilon: input.budget.epsilon,
        budget_delta: input.budget.delta,
        accountant: toJson(input.accountant ?? { orders: [], rdp: [] }),
        epsilon_spent: 0,
        optimizer_state_hash: null,
        clip_norm: input.clipNorm ?? null,
        created_at: at,
        updated_at: at,
      };
      try {
        await ctx.db.insertInto('tasks').values(row).execute();
      } catch (e) {
        if (isForeignKeyViolation(e))
          throw new StoreError(
            'not_found',
            `Model ${input.app} v${input.modelVersion} does not exist; push it before creating a task.`,
            { app: input.app, version: input.modelVersion },
            { cause: e },
          );
        if (isUniqueViolation(e))
          throw new StoreError('conflict', `Task ${row.id} already exists.`, { id: row.id }, { cause: e });
        throw e;
      }
      return toTask(row);
    },
    async getTask(id) {
      const row = await ctx.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toTask(row) : null;
    },
    async listTasks(query = {}) {
      let q = ctx.db.selectFrom('tasks').selectAll();
      if (query.app !== undefined) q = q.where('app', '=', query.app);
      if (query.status !== undefined) q = q.where('status', '=', query.status);
      const rows = await q
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .limit(pageLimit(query.limit))
        .offset(pageOffset(query.offset))
        .execute();
      return rows.map(toTask);
    },
    async updateTask(id, patch, options = {}) {
      if (patch.status !== undefined) assertTaskStatus(patch.status);
      if (options.ifStatus?.length === 0) throw new StoreError('invalid', 'ifStatus must list at least one status.');
      const set: Partial<TasksTable> = { updated_at: ctx.now() };
      if (patch.name !== undefined) set.name = patch.name;
      if (patch.status !== undefined) set.status = patch.status;
      if (patch.currentVersion !== undefined) set.current_version = patch.currentVersion;
      if (patch.plan !== undefined) set.plan = toJson(patch.plan);
      if (patch.accountant !== undefined) set.accountant = toJson(patch.accountant);
      if (patch.epsilonSpent !== undefined) set.epsilon_spent = patch.epsilonSpent;
      if (patch.optimizerStateHash !== undefined) set.optimizer_state_hash = patch.optimizerStateHash;
      if (patch.clipNorm !== undefined) set.clip_norm = patch.clipNorm;
      return ctx.atomic(async (db) => {
        let q = db.updateTable('tasks').set(set).where('id', '=', id);
        if (options.ifStatus !== undefined) q = q.where('status', 'in', options.ifStatus);
        const r = await q.executeTakeFirst();
        const row = await db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new StoreError('not_found', `Task ${id} does not exist.`, { id });
        if (Number(r.numUpdatedRows) !== 1) {
          throw new StoreError(
            'conflict',
            `Task ${id} is ${row.status}, not ${options.ifStatus?.join(' or ')}; nothing changed.`,
            { id, status: row.status },
          );
        }
        return toTask(row);
      });
    },
  };
}
