/**
 * Admin routes for federated tasks and fleet state: create / list / pause /
 * resume tasks (each with an optional `{ reason }` for the audit log), their
 * rounds, close a round now, and devices. The audit log is admin-audit.ts.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import {
  RoundViewSchema,
  type SecAggRoundStats,
  TaskCreateSchema,
  TaskViewSchema,
} from '../../shared/protocol/index.ts';
import { actorOf } from '../auth/middleware.ts';
import { newId } from '../auth/secrets.ts';
import type { CoordinatorDeps } from '../deps.ts';
import { ApiError } from '../http/api-error.ts';
import type { Env } from '../http/env.ts';
import { validationHook } from '../http/hooks.ts';
import { limitBody } from '../http/limits.ts';
import { RdpAccountant } from '../../shared/dp/index.ts';
import { DEFAULT_REPORT_DELTA } from '../rounds/privacy-budget.ts';
import { roundView, taskView } from '../rounds/views.ts';
import { resolveEvaluation } from '../rounds/round-evaluation.ts';
import type { Round, Task } from '../store/index.ts';
import { actionReasonBody } from './action-reason.ts';
import { checkSecureAggregationFits } from './secure-aggregation-fit.ts';

const TaskParam = z.object({ id: z.string().min(1).max(128) });
const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });

/** A secure-aggregation round's counts: live from this process while it runs, else as stored. */
async function secAggStatsOf(deps: CoordinatorDeps, rounds: readonly Round[]): Promise<Map<string, SecAggRoundStats>> {
  const stats = await deps.store.listSecAggRoundStats(rounds.map((r) => r.id));
  for (const r of rounds) {
    const live = deps.rounds.secureAggregation.get(r.id);
    if (live) stats.set(r.id, live.stats());
  }
  return stats;
}

async function viewOf(deps: CoordinatorDeps, task: Task) {
  const { store } = deps;
  const rounds = await store.listRounds({ taskId: task.id, limit: 1000 });
  const latest = await store.latestRound(task.id);
  const current = latest && (latest.status === 'open' || latest.status === 'closing') ? latest : null;
  return taskView(task, {
    roundsCompleted: rounds.filter((r) => r.status === 'closed').length,
    currentRound: current,
    ...(current && task.plan.secureAggregation
      ? { currentRoundSecAgg: (await secAggStatsOf(deps, [current])).get(current.id) ?? null }
      : {}),
  });
}

export function adminTaskRoutes(deps: CoordinatorDeps) {
  const { store } = deps;
  const app = new OpenAPIHono<Env>({ defaultHook: validationHook });
  app.use('/v1/admin/tasks', limitBody(deps.config.limits.jsonBytes));
  app.use('/v1/admin/tasks/*', limitBody(deps.config.limits.jsonBytes));

  const setStatus = async (
    id: string,
    to: 'active' | 'paused',
    from: Array<Task['status']>,
    actor: string,
    reason?: string,
  ) => {
    const task = await store.getTask(id);
    if (!task) throw new ApiError('not_found', `no task ${id}`);
    if (task.status === to) return task;
    if (!from.includes(task.status))
      throw new ApiError('conflict', `task ${id} is ${task.status}; it cannot become ${to}`);
    const updated = await store.updateTask(id, { status: to }, { ifStatus: from });
    await store.appendAudit({
      actor,
      action: `task.${to === 'paused' ? 'pause' : 'resume'}`,
      target: id,
      details: { from: task.status, ...(reason ? { reason } : {}) },
    });
    return updated;
  };

  return app
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/admin/tasks',
        tags: ['admin'],
        request: { body: { content: json(TaskCreateSchema), required: true } },
        responses: { 201: { description: 'task created', content: json(TaskViewSchema) } },
      }),
      async (c) => {
        const body = c.req.valid('json');
        const version = await store.getModelVersion(body.app, body.modelVersion);
        if (!version)
          throw new ApiError(
            'not_found',
            `model ${body.app} has no version ${body.modelVersion}; push one with "flock model push"`,
          );
        if (!version.variants.some((v) => v.encoding === 'fp32'))
          throw new ApiError(
            'unprocessable',
            `model ${body.app}@${body.modelVersion} has no fp32 variant to train from`,
          );
        checkSecureAggregationFits(body.plan, version.weightSpecs);
        // A round's SecAgg+ phase state (keys, shares, the masked running sum) lives in the
        // process that opened it; with several processes on one store, another process
        // could take the round's check-ins or phase messages and never see that state.
        if (body.plan.secureAggregation && deps.rounds.sharesStore)
          throw new ApiError(
            'not_implemented',
            'the plan is valid, but secure-aggregation rounds run on a single coordinator process only (their phase state is kept in that process), and this coordinator shares its store with other processes; no task was made. Run one coordinator process for this task, or remove secureAggregation to train with central DP',
          );
        const plan = await resolveEvaluation(store, body.plan, version);
        const task = await store.createTask({
          id: newId('task'),
          app: body.app,
          name: body.name ?? `${body.app} from v${body.modelVersion}`,
          modelVersion: body.modelVersion,
          plan,
          // The store requires a real (epsilon, delta); a plan without a budget is unbounded.
          budget: body.plan.privacyBudget ?? { epsilon: Number.MAX_VALUE, delta: DEFAULT_REPORT_DELTA },
          accountant: new RdpAccountant().toJSON(),
          clipNorm: body.plan.clipNorm,
        });
        await store.appendAudit({
          actor: actorOf(c.get('principal')),
          action: 'task.create',
          target: task.id,
          details: { app: body.app, modelVersion: body.modelVersion, plan },
        });
        return c.json(await viewOf(deps, task), 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/tasks',
        tags: ['admin'],
        responses: { 200: { description: 'all tasks', content: json(z.object({ tasks: z.array(TaskViewSchema) })) } },
      }),
      async (c) =>
        c.json({ tasks: await Promise.all((await store.listTasks({ limit: 1000 })).map((t) => viewOf(deps, t))) }, 200),
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/tasks/{id}',
        tags: ['admin'],
        request: { params: TaskParam },
        responses: { 200: { description: 'one task', content: json(TaskViewSchema) } },
      }),
      async (c) => {
        const task = await store.getTask(c.req.valid('param').id);
        if (!task) throw new ApiError('not_found', `no task ${c.req.valid('param').id}`);
        return c.json(await viewOf(deps, task), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/admin/tasks/{id}/pause',
        tags: ['admin'],
        request: { params: TaskParam, body: actionReasonBody },
        responses: {
          200: { description: 'paused; an optional { reason } goes to the audit entry', content: json(TaskViewSchema) },
        },
      }),
      async (c) =>
        c.json(
          await viewOf(
            deps,
            await setStatus(
              c.req.valid('param').id,
              'paused',
              ['active'],
              actorOf(c.get('principal')),
              c.req.valid('json').reason,
            ),
          ),
          200,
        ),
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/admin/tasks/{id}/resume',
        tags: ['admin'],
        request: { params: TaskParam, body: actionReasonBody },
        responses: {
          200: {
            description: 'active again; an optional { reason } goes to the audit entry',
            content: json(TaskViewSchema),
          },
        },
      }),
      async (c) =>
        c.json(
          await viewOf(
            deps,
            await setStatus(
              c.req.valid('param').id,
              'active',
              ['paused'],
              actorOf(c.get('principal')),
              c.req.valid('json').reason,
            ),
          ),
          200,
        ),
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/tasks/{id}/rounds',
        tags: ['admin'],
        request: { params: TaskParam },
        responses: {
          200: {
            description: 'rounds, newest first',
            content: json(
              z.object({ rounds: z.array(RoundViewSchema.extend({ metrics: z.record(z.string(), z.unknown()) })) }),
            ),
          },
        },
      }),
      async (c) => {
        const rounds = await store.listRounds({ taskId: c.req.valid('param').id, limit: 1000 });
        const secAgg = await secAggStatsOf(deps, rounds);
        return c.json(
          {
            rounds: rounds.map((r) => ({
              ...roundView(r, secAgg.get(r.id)),
              metrics: r.metrics as Record<string, unknown>,
            })),
          },
          200,
        );
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/admin/rounds/{id}/close',
        tags: ['admin'],
        request: { params: TaskParam },
        responses: { 200: { description: 'closed (or failed for too few reports)', content: json(RoundViewSchema) } },
      }),
      async (c) => {
        const id = c.req.valid('param').id;
        if (!(await store.getRound(id))) throw new ApiError('round_not_found', `no round ${id}`);
        await store.appendAudit({ actor: actorOf(c.get('principal')), action: 'round.close', target: id });
        const round = (await deps.rounds.closeRound(id, 'manual')) ?? (await store.getRound(id))!;
        return c.json(roundView(round, (await secAggStatsOf(deps, [round])).get(round.id)), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/devices',
        tags: ['admin'],
        request: {
          query: z.object({ app: z.string().optional(), limit: z.coerce.number().int().min(1).max(1000).optional() }),
        },
        responses: {
          200: {
            description: 'registered devices (no tokens)',
            content: json(z.object({ devices: z.array(z.record(z.string(), z.unknown())) })),
          },
        },
      }),
      async (c) => {
        const q = c.req.valid('query');
        const devices = await store.listDevices({ app: q.app, limit: q.limit ?? 100 });
        return c.json({ devices: devices.map(({ tokenHash: _hidden, ...d }) => d) }, 200);
      },
    );
}
