/**
 * Admin routes an operator reads the fleet's history and shape from: the
 * audit log, filtered by action, actor, target and time and paged newest
 * first by `beforeId`; and the list of apps, with simulator apps (`sim`,
 * `sim-<hex>`, made by `flock simulate`) flagged so a dashboard can hide them.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { CoordinatorDeps } from '../deps.ts';
import type { Env } from '../http/env.ts';
import { validationHook } from '../http/hooks.ts';

const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });

/** The app names `flock simulate` creates: `sim`, or `sim-<random hex>` against a remote coordinator (cli/simulate.ts). */
export const isSimulatorApp = (app: string): boolean => /^sim(-[0-9a-f]+)?$/.test(app);

const AuditQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  action: z.string().min(1).max(128).optional(),
  actor: z.string().min(1).max(256).optional(),
  target: z.string().min(1).max(256).optional(),
  /** Entries at or after this instant (ISO 8601 with an offset, e.g. 2026-01-02T03:04:05Z). */
  since: z.iso.datetime({ offset: true }).optional(),
  /** Cursor: entries with a smaller id; pass the previous page's `nextBeforeId`. */
  beforeId: z.coerce.number().int().min(1).optional(),
});

const AuditEntrySchema = z.object({
  id: z.int(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});

export function adminAuditRoutes(deps: CoordinatorDeps) {
  const { store } = deps;
  return new OpenAPIHono<Env>({ defaultHook: validationHook })
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/audit',
        tags: ['admin'],
        request: { query: AuditQuerySchema },
        responses: {
          200: {
            description:
              'audit log, newest first; nextBeforeId is the cursor of the next (older) page, null on the last',
            content: json(z.object({ entries: z.array(AuditEntrySchema), nextBeforeId: z.int().nullable() })),
          },
        },
      }),
      async (c) => {
        const q = c.req.valid('query');
        const limit = q.limit ?? 100;
        // Stored times are toISOString() strings, compared as text: normalise the offset away first.
        const since = q.since === undefined ? undefined : new Date(q.since).toISOString();
        const entries = await store.listAudit({
          limit,
          action: q.action,
          actor: q.actor,
          target: q.target,
          since,
          beforeId: q.beforeId,
        });
        const nextBeforeId = entries.length === limit ? entries[entries.length - 1].id : null;
        return c.json({ entries: entries, nextBeforeId }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/apps',
        tags: ['admin'],
        request: { query: z.object({ simulators: z.enum(['true', 'false']).optional() }) },
        responses: {
          200: {
            description: 'apps with at least one model version, by name; simulator apps only with ?simulators=true',
            content: json(
              z.object({
                apps: z.array(z.object({ app: z.string(), simulator: z.boolean() })),
                hiddenSimulators: z.int(),
              }),
            ),
          },
        },
      }),
      async (c) => {
        const all = (await store.listApps()).map((app) => ({ app, simulator: isSimulatorApp(app) }));
        const apps = c.req.valid('query').simulators === 'true' ? all : all.filter((a) => !a.simulator);
        return c.json({ apps, hiddenSimulators: all.length - apps.length }, 200);
      },
    );
}
