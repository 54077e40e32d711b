/**
 * Admin routes for rollouts: start, list, show (with the latest verdict and
 * evidence, drift and shadow report), pause / resume / promote / abort
 * (each with an optional `{ reason }` for the audit log);
 * per-app drift and a bandit allocation preview. Also the device route
 * `GET /v1/apps/:app/shadow`, which devices ask only when their manifest says
 * `rollout.shadow: true`; it answers the shadow manifest signed for that role
 * (`purpose: 'shadow'`, rollouts/shadow-manifest.ts). Device auth for `/v1/apps/*` is
 * applied by deviceRoutes, and the handler re-checks the principal.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { AppNameSchema } from '../../shared/protocol/index.ts';
import { RolloutViewSchema, ShadowConfigSchema, type RolloutView } from '../../shared/protocol/rollouts.ts';
import { actorOf, deviceOf } from '../auth/middleware.ts';
import type { CoordinatorDeps } from '../deps.ts';
import { ApiError } from '../http/api-error.ts';
import type { Env, Principal } from '../http/env.ts';
import { validationHook } from '../http/hooks.ts';
import { limitBody } from '../http/limits.ts';
import { driftReport, MetricRulesInputSchema } from '../rollouts/index.ts';
import { shadowOf } from '../rollouts/shadow.ts';
import type { Rollout } from '../store/index.ts';
import { actionReasonBody } from './action-reason.ts';

export const RolloutCreateSchema = z.strictObject({
  app: AppNameSchema,
  candidateVersion: z.int().min(1),
  stages: z.array(z.number().gt(0).max(100)).min(1).max(20).optional(),
  minStageSeconds: z
    .number()
    .min(0)
    .max(30 * 86_400)
    .optional(),
  minSamples: z.int().min(1).max(10_000_000).optional(),
  metrics: MetricRulesInputSchema.optional(),
  /** Also run this version as a shadow on `sampleRate` of inferences (compared with production, never shown). */
  shadow: ShadowConfigSchema.optional(),
});

// lastVerdict is typed RolloutVerdict from the service's write to the store's read (cli/rollout-verdict.test.ts holds the JSON there).
const view = (r: Rollout): RolloutView => ({
  ...r,
  canaryPercent: r.stages[r.stageIndex],
  shadow: shadowOf(r),
});
const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const IdParam = z.object({ id: z.string().min(1).max(128) });
const ACTIONS = ['pause', 'resume', 'promote', 'abort'] as const;

export function adminRolloutRoutes(deps: CoordinatorDeps) {
  const { rollouts, store } = deps;
  const app = new OpenAPIHono<Env>({ defaultHook: validationHook });
  app.use('/v1/admin/rollouts', limitBody(deps.config.limits.jsonBytes));
  app.use('/v1/admin/rollouts/*', limitBody(deps.config.limits.jsonBytes));

  // One route per action, chained (not registered in a loop) so each is in AppType.
  const actionRoute = <A extends (typeof ACTIONS)[number]>(action: A) =>
    createRoute({
      method: 'post',
      path: `/v1/admin/rollouts/{id}/${action}` as const,
      tags: ['admin'],
      request: { params: IdParam, body: actionReasonBody },
      responses: {
        200: {
          description: `rollout after ${action}; an optional { reason } goes to the audit entry`,
          content: json(RolloutViewSchema),
        },
      },
    });
  const act = async (action: (typeof ACTIONS)[number], id: string, principal: Principal, reason?: string) =>
    view(await rollouts[action](id, actorOf(principal), reason));

  return app
    .openapi(actionRoute('pause'), async (c) =>
      c.json(await act('pause', c.req.valid('param').id, c.get('principal'), c.req.valid('json').reason), 200),
    )
    .openapi(actionRoute('resume'), async (c) =>
      c.json(await act('resume', c.req.valid('param').id, c.get('principal'), c.req.valid('json').reason), 200),
    )
    .openapi(actionRoute('promote'), async (c) =>
      c.json(await act('promote', c.req.valid('param').id, c.get('principal'), c.req.valid('json').reason), 200),
    )
    .openapi(actionRoute('abort'), async (c) =>
      c.json(await act('abort', c.req.valid('param').id, c.get('principal'), c.req.valid('json').reason), 200),
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/admin/rollouts',
        tags: ['admin'],
        request: { body: { content: json(RolloutCreateSchema), required: true } },
        responses: { 201: { description: 'rollout started', content: json(RolloutViewSchema) } },
      }),
      async (c) => c.json(view(await rollouts.startRollout(c.req.valid('json'), actorOf(c.get('principal')))), 201),
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/rollouts',
        tags: ['admin'],
        request: { query: z.object({ app: z.string().optional() }) },
        responses: {
          200: {
            description: 'rollouts, newest first',
            content: json(z.object({ rollouts: z.array(RolloutViewSchema) })),
          },
        },
      }),
      async (c) =>
        c.json({ rollouts: (await store.listRollouts({ app: c.req.valid('query').app, limit: 1000 })).map(view) }, 200),
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/rollouts/{id}',
        tags: ['admin'],
        request: { params: IdParam },
        responses: {
          200: {
            description: 'one rollout with its latest verdict, drift of the candidate and shadow report',
            content: json(
              RolloutViewSchema.extend({
                drift: z.record(z.string(), z.unknown()),
                shadowReport: z.record(z.string(), z.unknown()).nullable(),
              }),
            ),
          },
        },
      }),
      async (c) => {
        const r = await store.getRollout(c.req.valid('param').id);
        if (!r) throw new ApiError('not_found', `no rollout ${c.req.valid('param').id}`);
        const report = await driftReport(store, r.app, [r.candidateVersion], r.createdAt);
        const shadowReport = await rollouts.shadowReport(r);
        return c.json(
          {
            ...view(r),
            drift: report,
            shadowReport,
          },
          200,
        );
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/models/{app}/drift',
        tags: ['admin'],
        request: { params: z.object({ app: AppNameSchema }), query: z.object({ since: z.string().optional() }) },
        responses: {
          200: {
            description: 'PSI per feature per version against production',
            content: json(z.record(z.string(), z.unknown())),
          },
        },
      }),
      async (c) =>
        c.json(await driftReport(store, c.req.valid('param').app, undefined, c.req.valid('query').since), 200),
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/models/{app}/bandit',
        tags: ['admin'],
        request: {
          params: z.object({ app: AppNameSchema }),
          query: z.object({
            versions: z
              .string()
              .regex(/^\d+(,\d+)+$/, 'versions is a comma-separated list of at least two versions, e.g. 1,2'),
            since: z.string().optional(),
          }),
        },
        responses: {
          200: {
            description: 'Thompson-sampling allocation from labelled feedback (read-only preview)',
            content: json(
              z.object({
                versions: z.array(z.int()),
                rewards: z.array(z.object({ version: z.int(), successes: z.number(), failures: z.number() })),
                shares: z.array(z.number()),
              }),
            ),
          },
        },
      }),
      async (c) => {
        const { versions, since } = c.req.valid('query');
        return c.json(
          await rollouts.banditPreview(c.req.valid('param').app, [...new Set(versions.split(',').map(Number))], since),
          200,
        );
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/apps/{app}/shadow',
        tags: ['devices'],
        request: { params: z.object({ app: AppNameSchema }) },
        responses: {
          200: {
            description: 'the shadow version this device may run on sampled inferences, with its signed manifest',
            content: json(
              ShadowConfigSchema.extend({ rolloutId: z.string(), manifest: z.record(z.string(), z.unknown()) }),
            ),
          },
          404: { description: 'no shadow is running for this app' },
        },
      }),
      async (c) => {
        const device = deviceOf(c.get('principal'));
        const appName = c.req.valid('param').app;
        if (device.app !== appName)
          throw new ApiError('forbidden', `this device is registered for app ${device.app}, not ${appName}`);
        const shadow = await rollouts.shadowFor(appName, device.deviceId);
        if (!shadow)
          throw new ApiError(
            'not_found',
            `app ${appName} has no shadow running; shadows are started with a rollout's "shadow" option`,
          );
        return c.json({ ...shadow, manifest: shadow.manifest }, 200);
      },
    );
}
