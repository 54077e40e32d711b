/**
 * Admin routes for bandit mode: start a Thompson-sampling bandit over an
 * app's versions, read its allocation and rewards, reallocate now, stop it.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { AppNameSchema } from '../../shared/protocol/index.ts';
import { actorOf } from '../auth/middleware.ts';
import type { CoordinatorDeps } from '../deps.ts';
import type { Env } from '../http/env.ts';
import { validationHook } from '../http/hooks.ts';

const BanditStartSchema = z.strictObject({
  app: AppNameSchema,
  versions: z.array(z.int().min(1)).min(2).max(8),
  /** Seconds between reallocation points (default 300). */
  reallocateSeconds: z
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .optional(),
});
const BanditViewSchema = z.object({
  app: z.string(),
  status: z.enum(['running', 'stopped']),
  state: z.object({
    id: z.string(),
    versions: z.array(z.number()),
    shares: z.array(z.number()),
    reallocations: z.number(),
    reallocatedAt: z.string(),
  }),
  generations: z.array(z.number()),
  startedAt: z.string(),
  reallocateSeconds: z.number(),
  /** successes / failures: capped per device (what Thompson sampling uses); outcomes: all sent, before the cap. */
  rewards: z.array(
    z.object({
      version: z.number(),
      successes: z.number(),
      failures: z.number(),
      outcomes: z.number().optional(),
      devices: z.number().optional(),
    }),
  ),
});
const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const AppParam = z.object({ app: AppNameSchema });

export function adminBanditRoutes(deps: CoordinatorDeps) {
  const { bandits } = deps;
  const app = new OpenAPIHono<Env>({ defaultHook: validationHook });
  return app
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/admin/bandits',
        tags: ['admin'],
        request: { body: { content: json(BanditStartSchema), required: true } },
        responses: { 201: { description: 'bandit started (even split)', content: json(BanditViewSchema) } },
      }),
      async (c) => c.json(await bandits.startBandit(c.req.valid('json'), actorOf(c.get('principal'))), 201),
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/bandits/{app}',
        tags: ['admin'],
        request: { params: AppParam },
        responses: { 200: { description: 'allocation, rewards and arm generations', content: json(BanditViewSchema) } },
      }),
      async (c) => c.json(await bandits.view(c.req.valid('param').app), 200),
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/admin/bandits/{app}/reallocate',
        tags: ['admin'],
        request: { params: AppParam },
        responses: { 200: { description: 'reallocated from the feedback so far', content: json(BanditViewSchema) } },
      }),
      async (c) => c.json(await bandits.reallocateNow(c.req.valid('param').app, actorOf(c.get('principal'))), 200),
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/admin/bandits/{app}/stop',
        tags: ['admin'],
        request: { params: AppParam },
        responses: { 200: { description: 'stopped; devices return to production', content: json(BanditViewSchema) } },
      }),
      async (c) => c.json(await bandits.stopBandit(c.req.valid('param').app, actorOf(c.get('principal'))), 200),
    );
}
