/**
 * Routes anyone may call: health, metrics, the manifest public key, and
 * device registration (rate-limited per IP).
 */
import { OpenAPIHono, createRoute } from '@hono/zod-openapi';
import {
  PROTOCOL_VERSION,
  RegisterRequestSchema,
  RegisterResponseSchema,
  ManifestPublicKeySchema,
} from '../../shared/protocol/index.ts';
import { currentAggregationBackend } from '../aggregation/index.ts';
import { hashSecret, newId, newSecret } from '../auth/secrets.ts';
import type { CoordinatorDeps } from '../deps.ts';
import type { Env } from '../http/env.ts';
import { validationHook } from '../http/hooks.ts';
import { clientIp, limitBody, limitRate } from '../http/limits.ts';
import { ApiError } from '../http/api-error.ts';
import { HealthSchema } from '../../shared/protocol/health.ts';

export function publicRoutes(deps: CoordinatorDeps) {
  const app = new OpenAPIHono<Env>({ defaultHook: validationHook });
  app.use(
    '/v1/devices',
    limitRate(deps.config.rateLimits.registerPerIp, (c) => `ip:${clientIp(c)}`, deps.rateLimits),
    limitBody(deps.config.limits.jsonBytes),
  );
  return app
    .openapi(
      createRoute({
        method: 'get',
        path: '/healthz',
        tags: ['ops'],
        responses: {
          200: { description: 'coordinator health', content: { 'application/json': { schema: HealthSchema } } },
        },
      }),
      (c) =>
        c.json(
          {
            status: 'ok' as const,
            version: deps.version,
            protocolVersion: PROTOCOL_VERSION,
            aggregationBackend: currentAggregationBackend()?.name ?? null,
            aggregationDevice: currentAggregationBackend()?.device ?? null,
            store: deps.store.kind,
          },
          200,
        ),
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/keys/manifest',
        tags: ['devices'],
        responses: {
          200: {
            description: 'manifest signing public key',
            content: { 'application/json': { schema: ManifestPublicKeySchema } },
          },
        },
      }),
      (c) =>
        c.json(
          { algorithm: 'Ed25519' as const, publicKey: deps.signing.publicKeyBase64, keyId: deps.signing.keyId },
          200,
        ),
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/devices',
        tags: ['devices'],
        request: { body: { content: { 'application/json': { schema: RegisterRequestSchema } }, required: true } },
        responses: {
          201: {
            description: 'registered; keep the token, it is shown once',
            content: { 'application/json': { schema: RegisterResponseSchema } },
          },
        },
      }),
      async (c) => {
        const body = c.req.valid('json');
        if (body.protocolVersion !== undefined && body.protocolVersion > PROTOCOL_VERSION) {
          throw new ApiError(
            'protocol_unsupported',
            `this coordinator speaks protocol ${PROTOCOL_VERSION}, the client ${body.protocolVersion}; upgrade the coordinator`,
          );
        }
        const deviceId = newId('dev');
        const token = newSecret('device', deviceId);
        await deps.store.createDevice({
          deviceId,
          app: body.app,
          tokenHash: hashSecret(token),
          platform: (body.platform ?? {}) as Record<string, string>,
          capabilities: (body.capabilities ?? {}) as Record<string, boolean | string>,
        });
        return c.json({ deviceId, token, app: body.app, protocolVersion: PROTOCOL_VERSION }, 201);
      },
    );
}
