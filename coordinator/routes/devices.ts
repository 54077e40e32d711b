/**
 * Device routes (device token): the signed manifest with ETag, blobs by hash,
 * round check-in, update upload and telemetry. Rate-limited per device.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import {
  CheckInRequestSchema,
  CheckInResponseSchema,
  SignedManifestSchema,
  TelemetryBatchSchema,
  TelemetryReceiptSchema,
  UPDATE_META_HEADER,
  UpdateReceiptSchema,
} from '../../shared/protocol/index.ts';
import { deviceOf, requireDevice } from '../auth/middleware.ts';
import type { CoordinatorDeps } from '../deps.ts';
import { ApiError } from '../http/api-error.ts';
import type { Env } from '../http/env.ts';
import { validationHook } from '../http/hooks.ts';
import { limitBody, limitRate } from '../http/limits.ts';
import { DEFAULT_UPLOAD_GATE, readBodyCapped, UploadGate, UploadRefused } from '../http/upload-gate.ts';
import { manifestForDevice } from '../rollouts/index.ts';
import { TelemetryQuota } from '../rollouts/telemetry-quota.ts';
import { DEFAULT_CONFIG } from '../config.ts';
import { assertBlobHash } from '../store/index.ts';

const binary = { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } };

export function deviceRoutes(deps: CoordinatorDeps) {
  const { store, rounds, config } = deps;
  const app = new OpenAPIHono<Env>({ defaultHook: validationHook });
  const device = requireDevice({ ...deps.auth });
  const deviceOrAdmin = requireDevice({ ...deps.auth, allowAdmin: true });
  const perDevice = limitRate(
    config.rateLimits.perDevice,
    (c) => {
      const p = c.get('principal');
      return p?.kind === 'device' ? `dev:${p.deviceId}` : 'admin';
    },
    deps.rateLimits,
  );
  app.use('/v1/apps/*', device, perDevice);
  app.use('/v1/tasks/*', device, perDevice, limitBody(config.limits.jsonBytes));
  // No limitBody here: Hono's reads a chunked body whole to count it. The upload route reads its body itself,
  // after admission and never past the model's largest update (readBodyCapped), at most updateBytes.
  app.use('/v1/rounds/*', device, perDevice);
  app.use('/v1/telemetry', device, perDevice, limitBody(config.limits.telemetryBytes));
  app.use('/v1/blobs/*', deviceOrAdmin, perDevice);
  const uploadGate = new UploadGate(config.uploadGate ?? DEFAULT_UPLOAD_GATE);
  const telemetryQuota = new TelemetryQuota(config.telemetryQuota ?? DEFAULT_CONFIG.telemetryQuota);

  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/blobs/{hash}',
    tags: ['devices'],
    request: { params: z.object({ hash: z.string() }) },
    responses: {
      200: { description: 'immutable content-addressed bytes', content: binary },
      404: { description: 'unknown hash' },
    },
  });
  // Declared here, chained last: plain routes (bytes, not zod bodies), typed in AppType all the same.
  const getBlob = async (c: Context<Env, '/v1/blobs/:hash'>) => {
    const hash = c.req.param('hash');
    try {
      assertBlobHash(hash);
    } catch {
      throw new ApiError('bad_request', 'a blob address is a lowercase sha256 hex string');
    }
    const principal = c.get('principal');
    // A device reads only what its app's versions refer to: never another app's models, nor stored updates.
    if (principal?.kind === 'device' && !(await store.appReferencesBlob(principal.app, hash)))
      throw new ApiError('not_found', `no blob ${hash}`);
    if (c.req.header('if-none-match') === `"${hash}"`) return c.body(null, 304);
    const bytes = await store.blobs.get(hash);
    if (!bytes) throw new ApiError('not_found', `no blob ${hash}`);
    c.header('Content-Type', 'application/octet-stream');
    c.header('Cache-Control', 'public, max-age=31536000, immutable');
    c.header('ETag', `"${hash}"`);
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200);
  };

  app.openAPIRegistry.registerPath({
    method: 'put',
    path: '/v1/rounds/{roundId}/updates',
    tags: ['devices'],
    request: {
      params: z.object({ roundId: z.string() }),
      headers: z.object({ [UPDATE_META_HEADER]: z.string() }),
      body: { content: binary },
    },
    responses: {
      200: {
        description: 'durably stored (or the first receipt of a replay)',
        content: { 'application/json': { schema: UpdateReceiptSchema } },
      },
    },
  });
  const putUpdate = async (c: Context<Env, '/v1/rounds/:roundId/updates'>) => {
    const principal = deviceOf(c.get('principal'));
    const type = c.req.header('content-type') ?? '';
    if (!type.startsWith('application/octet-stream'))
      throw new ApiError('bad_request', 'send the update as application/octet-stream (a Flock codec file)');
    const roundId = c.req.param('roundId');
    const metaHeader = c.req.header(UPDATE_META_HEADER);
    // Admission before the body: a refused upload is answered without reading a byte of it.
    const head = await rounds.admitHeader(principal, roundId, metaHeader);
    if (head.status === 'replay') return c.json(head.receipt, 200);
    let release: () => void;
    try {
      release = uploadGate.enter(principal.deviceId, head.maxBytes);
    } catch (error) {
      if (!(error instanceof UploadRefused)) throw error;
      if (error.retryAfterSeconds) c.header('Retry-After', String(error.retryAfterSeconds));
      return c.json(error.body, error.status);
    }
    try {
      const bytes = await readBodyCapped(c.req.raw, Math.min(head.maxBytes, config.limits.updateBytes)).catch(
        (error: unknown) => {
          if (error instanceof ApiError) deps.metrics.updatesRejected.inc({ reason: error.code });
          throw error;
        },
      );
      const receipt = await rounds.upload(principal, roundId, metaHeader, bytes, head);
      return c.json(receipt, 200);
    } finally {
      release();
    }
  };

  return app
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/apps/{app}/manifest',
        tags: ['devices'],
        request: { params: z.object({ app: z.string() }) },
        responses: {
          200: {
            description: "signed manifest of the version this device should run (its cohort's during a rollout)",
            content: { 'application/json': { schema: SignedManifestSchema } },
          },
          304: { description: 'not modified (If-None-Match)' },
        },
      }),
      async (c) => {
        const principal = deviceOf(c.get('principal'));
        const { app: appName } = c.req.valid('param');
        if (appName !== principal.app)
          throw new ApiError('forbidden', `this device is registered for app ${principal.app}`);
        const record = (await manifestForDevice(store, appName, principal.deviceId))?.record;
        if (!record)
          throw new ApiError(
            'not_found',
            `app ${appName} has no production model yet; promote a version with "flock model stage"`,
          );
        const etag = `"g${record.generation}"`;
        c.header('ETag', etag);
        c.header('Cache-Control', 'no-cache');
        if (c.req.header('if-none-match') === etag) return c.body(null, 304);
        // The store keeps manifests as JSON; what it hands back is checked before a device sees it.
        return c.json(SignedManifestSchema.parse(record.signedManifest), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/apps/{app}/tasks',
        tags: ['devices'],
        request: { params: z.object({ app: z.string() }) },
        responses: {
          200: {
            description: "the app's active federated tasks a device may check in to",
            content: {
              'application/json': {
                schema: z.object({
                  tasks: z.array(z.object({ id: z.string(), name: z.string(), minExamples: z.number() })),
                }),
              },
            },
          },
        },
      }),
      async (c) => {
        const principal = deviceOf(c.get('principal'));
        const { app: appName } = c.req.valid('param');
        if (appName !== principal.app)
          throw new ApiError('forbidden', `this device is registered for app ${principal.app}`);
        const tasks = await store.listTasks({ app: appName, status: 'active', limit: 100 });
        return c.json(
          {
            tasks: tasks.map((t) => ({
              id: t.id,
              name: t.name,
              minExamples: Number((t.plan as { minExamples?: number }).minExamples ?? 1),
            })),
          },
          200,
        );
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/tasks/{taskId}/checkin',
        tags: ['devices'],
        request: {
          params: z.object({ taskId: z.string() }),
          body: { content: { 'application/json': { schema: CheckInRequestSchema } }, required: true },
        },
        responses: {
          200: {
            description: 'selected with a plan, or told when to retry',
            content: { 'application/json': { schema: CheckInResponseSchema } },
          },
        },
      }),
      async (c) => {
        const principal = deviceOf(c.get('principal'));
        const body = c.req.valid('json');
        const { taskId } = c.req.valid('param');
        if (body.deviceId !== principal.deviceId)
          throw new ApiError('forbidden', 'a device can only check in as itself');
        if (body.taskId !== taskId)
          throw new ApiError('bad_request', `body names task ${body.taskId} but the URL names ${taskId}`);
        await store.touchDevice(principal.deviceId);
        const answer = await rounds.checkIn(principal, taskId, body);
        if (answer.status === 'retry') c.header('Retry-After', String(Math.ceil(answer.retryAfterSeconds)));
        return c.json(answer, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/telemetry',
        tags: ['devices'],
        request: { body: { content: { 'application/json': { schema: TelemetryBatchSchema } }, required: true } },
        responses: {
          202: { description: 'stored', content: { 'application/json': { schema: TelemetryReceiptSchema } } },
          429: { description: 'over the per-device telemetry quota (bytes or events per window); see Retry-After' },
        },
      }),
      async (c) => {
        const principal = deviceOf(c.get('principal'));
        const batch = c.req.valid('json');
        if (batch.deviceId !== principal.deviceId || batch.app !== principal.app)
          throw new ApiError('forbidden', 'a device can only send its own telemetry');
        const bytes = Number(c.req.header('content-length')) || new TextEncoder().encode(JSON.stringify(batch)).length;
        const quota = telemetryQuota.consume(principal.deviceId, bytes, batch.events.length);
        if (!quota.allowed) {
          c.header('Retry-After', String(quota.retryAfterSeconds));
          throw new ApiError(
            'rate_limited',
            `this device sent more than ${quota.reason} of telemetry in ${telemetryQuota.limits.windowMs / 1000} s; retry after ${quota.retryAfterSeconds} s and send summaries less often`,
            { retryAfterSeconds: quota.retryAfterSeconds },
          );
        }
        const accepted = await store.appendTelemetry(
          batch.events.map((event) => ({
            deviceId: principal.deviceId,
            app: principal.app,
            version: batch.modelVersion ?? null,
            kind: event.type,
            payload: event,
          })),
        );
        return c.json({ accepted }, 202);
      },
    )
    .get('/v1/blobs/:hash', getBlob)
    .put('/v1/rounds/:roundId/updates', putUpdate);
}
