/**
 * The coordinator's Hono app: route groups composed under one error shape,
 * OpenAPI at /openapi.json, Prometheus at /metrics. `AppType` gives clients
 * typed calls through `hc<AppType>`.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { requireAdmin } from './auth/middleware.ts';
import type { CoordinatorDeps } from './deps.ts';
import type { Env } from './http/env.ts';
import { errorHandler, measureLatency, notFound, rejectMalformedPaths, validationHook } from './http/hooks.ts';
import { DEVICE_ROUTE_PATTERNS, deviceCors } from './http/cors.ts';
import { securityHeaders } from './http/security-headers.ts';
import { adminModelPushRoutes, adminModelRoutes } from './routes/admin-models.ts';
import { adminRolloutRoutes } from './routes/admin-rollouts.ts';
import { adminAuditRoutes } from './routes/admin-audit.ts';
import { adminBanditRoutes } from './routes/admin-bandits.ts';
import { adminTaskRoutes } from './routes/admin-tasks.ts';
import { deviceCensusRoutes } from './routes/device-census.ts';
import { deviceRoutes } from './routes/devices.ts';
import { eventRoutes } from './routes/events.ts';
import { publicRoutes } from './routes/public.ts';
import { secureAggregationRoutes } from './routes/secure-aggregation-rounds.ts';

export function buildApp(deps: CoordinatorDeps) {
  const app = new OpenAPIHono<Env>({ defaultHook: validationHook });
  app.onError(errorHandler(deps.log));
  app.notFound(notFound);
  app.use('*', securityHeaders());
  app.use('*', rejectMalformedPaths());
  app.use('*', measureLatency(deps.metrics));
  const corsForDevices = deviceCors(deps.config.corsOrigins);
  for (const pattern of DEVICE_ROUTE_PATTERNS) app.use(pattern, corsForDevices);
  app.use('/v1/admin/*', requireAdmin(deps.auth));

  const routes = app
    .get('/metrics', async (c) => {
      c.header('Content-Type', deps.metrics.registry.contentType);
      return c.body(await deps.metrics.registry.metrics(), 200);
    })
    .route('/', publicRoutes(deps))
    .route('/', deviceRoutes(deps))
    .route('/', secureAggregationRoutes(deps))
    .route('/', adminModelPushRoutes(deps))
    .route('/', adminModelRoutes(deps))
    .route('/', adminTaskRoutes(deps))
    .route('/', adminAuditRoutes(deps))
    .route('/', deviceCensusRoutes(deps))
    .route('/', adminRolloutRoutes(deps))
    .route('/', adminBanditRoutes(deps))
    .route('/', eventRoutes(deps, { heartbeatMs: deps.config.sseHeartbeatMs }));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Flock coordinator',
      version: deps.version,
      description: 'Federated learning coordinator: devices, model registry, rounds. See docs/wire.md.',
    },
    security: [{ bearer: [] }],
  });
  return routes;
}

/**
 * Every route's types, for `hc<AppType>(url)`: admin and device routes with their
 * JSON answers, blob download and update upload (bytes). `adminClient()` in
 * admin-client.ts is the typed admin client built on it.
 */
export type AppType = ReturnType<typeof buildApp>;
