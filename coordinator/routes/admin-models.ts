/**
 * Admin model registry routes: push a tfjs LayersModel (multipart), list and
 * read versions with lineage, and move versions between stages (audited;
 * production publishes a signed manifest).
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import {
  AppNameSchema,
  ModelStageSchema,
  ModelVersionListSchema,
  ModelVersionViewSchema,
  StageTransitionSchema,
  type ModelVersionView,
} from '../../shared/protocol/index.ts';
import { actorOf } from '../auth/middleware.ts';
import type { CoordinatorDeps } from '../deps.ts';
import { ApiError } from '../http/api-error.ts';
import type { Env } from '../http/env.ts';
import { validationHook } from '../http/hooks.ts';
import { limitBody } from '../http/limits.ts';
import { HoldoutError } from '../registry/holdout.ts';
import { ModelPackageError } from '../registry/model-package-error.ts';
import { changeStage, pushModel } from '../registry/publish.ts';
import type { ModelVersion } from '../store/index.ts';

/** Store row -> wire view. */
export function modelVersionView(v: ModelVersion): ModelVersionView {
  const metrics = Object.create(null) as Record<string, number>;
  for (const [k, value] of Object.entries(v.metrics))
    if (typeof value === 'number' && Number.isFinite(value)) metrics[k] = value;
  return {
    app: v.app,
    version: v.version,
    parentVersion: v.parentVersion,
    createdAt: v.createdAt,
    source: v.source,
    roundId: v.roundId,
    clients: v.clients,
    clipNorm: v.clipNorm,
    noiseMultiplier: v.noiseMultiplier,
    epsilon: v.epsilon,
    metrics,
    stage: v.stage,
    variants: v.variants.map((variant) => ({
      encoding: variant.encoding as 'fp32' | 'fp16' | 'int8',
      totalBytes: variant.totalBytes,
      sha256: variant.sha256,
      holdoutAccuracy:
        typeof v.metrics[`holdoutAccuracy_${variant.encoding}`] === 'number'
          ? (v.metrics[`holdoutAccuracy_${variant.encoding}`] as number)
          : null,
    })),
  };
}

const AppParam = z.object({ app: AppNameSchema });

/** Tells SSE clients of this process that the app's manifest changed (they re-read their own). */
function announceManifest(deps: CoordinatorDeps, app: string, reason: string): void {
  void deps.store
    .latestManifest(app)
    .then((m) => m && deps.rollouts.events.publish({ app, generation: m.generation, reason }));
}
const VersionParams = z.object({ app: AppNameSchema, version: z.coerce.number().int().min(1) });

/** `POST /v1/admin/models/:app`: multipart, one field per file, read by the handler itself (no zod body schema). */
export function adminModelPushRoutes(deps: CoordinatorDeps) {
  const { store, signing, config } = deps;
  const app = new OpenAPIHono<Env>({ defaultHook: validationHook });

  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/admin/models/{app}',
    tags: ['admin'],
    request: {
      params: AppParam,
      body: {
        content: {
          'multipart/form-data': {
            schema: z.object({
              'model.json': z.string().openapi({ format: 'binary' }),
              holdout: z.string().optional().openapi({ format: 'binary' }),
              stage: ModelStageSchema.optional(),
            }),
          },
        },
      },
    },
    responses: {
      201: {
        description: 'registered version (+ holdout accuracy report)',
        content: { 'application/json': { schema: ModelVersionViewSchema } },
      },
    },
  });
  return app.post('/v1/admin/models/:app', limitBody(config.limits.modelBytes), async (c) => {
    const parsedApp = AppNameSchema.safeParse(c.req.param('app'));
    if (!parsedApp.success)
      throw new ApiError('validation_failed', 'app names are lowercase letters, digits and dashes (e.g. "digits")');
    const type = c.req.header('content-type') ?? '';
    if (!type.startsWith('multipart/form-data'))
      throw new ApiError(
        'bad_request',
        'send the model as multipart/form-data: model.json plus its weight files (field name = file name)',
      );
    const form = await c.req.parseBody({ all: true });
    const files = new Map<string, Uint8Array>();
    let holdout: Uint8Array | undefined;
    let stage: string | undefined;
    for (const [field, value] of Object.entries(form)) {
      const values = Array.isArray(value) ? value : [value];
      for (const v of values) {
        if (field === 'stage' && typeof v === 'string') stage = v;
        else if (v instanceof File) {
          const bytes = new Uint8Array(await v.arrayBuffer());
          if (field === 'holdout') holdout = bytes;
          else files.set(field, bytes);
        }
      }
    }
    const parsedStage = stage === undefined ? undefined : ModelStageSchema.safeParse(stage);
    if (parsedStage && !parsedStage.success)
      throw new ApiError(
        'validation_failed',
        `stage must be one of candidate, canary, production, archived; got "${stage}"`,
      );
    try {
      const result = await pushModel(store, signing, {
        app: parsedApp.data,
        files,
        holdout,
        stage: parsedStage?.data,
        actor: actorOf(c.get('principal')),
        maxModelBytes: config.limits.modelBytes,
        maxAccuracyDrop: config.maxAccuracyDrop,
      });
      if (result.version.stage === 'production') announceManifest(deps, parsedApp.data, 'pushed to production');
      return c.json(
        { ...modelVersionView(result.version), accuracy: result.accuracy, refusedVariants: result.refusedVariants },
        201,
      );
    } catch (error) {
      if (error instanceof ModelPackageError) {
        throw new ApiError(error.code === 'too_large' ? 'payload_too_large' : 'unprocessable', error.message, {
          reason: error.code,
        });
      }
      if (error instanceof HoldoutError) throw new ApiError('unprocessable', error.message, { reason: error.code });
      throw error;
    }
  });
}

export function adminModelRoutes(deps: CoordinatorDeps) {
  const { store, signing } = deps;
  return new OpenAPIHono<Env>({ defaultHook: validationHook })
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/models/{app}/versions',
        tags: ['admin'],
        request: { params: AppParam },
        responses: {
          200: {
            description: 'versions, newest first',
            content: { 'application/json': { schema: ModelVersionListSchema } },
          },
        },
      }),
      async (c) => {
        const versions = await store.listModelVersions(c.req.valid('param').app, { limit: 1000 });
        return c.json({ versions: versions.map(modelVersionView) }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/v1/admin/models/{app}/versions/{version}',
        tags: ['admin'],
        request: { params: VersionParams },
        responses: {
          200: {
            description: 'one version with lineage',
            content: { 'application/json': { schema: ModelVersionViewSchema } },
          },
        },
      }),
      async (c) => {
        const { app: appName, version } = c.req.valid('param');
        const v = await store.getModelVersion(appName, version);
        if (!v) throw new ApiError('not_found', `model ${appName} has no version ${version}`);
        return c.json(modelVersionView(v), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/v1/admin/models/{app}/versions/{version}/stage',
        tags: ['admin'],
        request: {
          params: VersionParams,
          body: { content: { 'application/json': { schema: StageTransitionSchema } }, required: true },
        },
        responses: {
          200: {
            description: 'the version in its new stage',
            content: { 'application/json': { schema: ModelVersionViewSchema } },
          },
        },
      }),
      async (c) => {
        const { app: appName, version } = c.req.valid('param');
        const body = c.req.valid('json');
        const updated = await changeStage(store, signing, {
          app: appName,
          version,
          stage: body.stage,
          reason: body.reason,
          actor: actorOf(c.get('principal')),
        });
        if (body.stage === 'production') announceManifest(deps, appName, 'promoted');
        return c.json(modelVersionView(updated), 200);
      },
    );
}
