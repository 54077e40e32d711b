/**
 * Model registry and manifests. Version rows are immutable once written; the
 * stage lives in its own table and every move is recorded in stage_history.
 * Version numbers and manifest generations come from per-app counters inside
 * the same transaction as the row they number.
 */
import type { Kysely } from 'kysely';
import { StoreError } from './errors.ts';
import { nextCounter, pageLimit, pageOffset } from './context.ts';
import type { OpsContext } from './context.ts';
import { toJson, toManifest, toModelVersion, toStageTransition } from './rows.ts';
import type { Database } from './schema.ts';
import type { StoreOps } from './store.ts';
import { MODEL_STAGES } from './types.ts';
import type { ModelStage } from './types.ts';

type RegistryOps = Pick<
  StoreOps,
  | 'createModelVersion'
  | 'getModelVersion'
  | 'listModelVersions'
  | 'latestModelVersion'
  | 'listApps'
  | 'appReferencesBlob'
  | 'setStage'
  | 'stageHistory'
  | 'publishManifest'
  | 'latestManifest'
  | 'getManifest'
>;

function versionsWithStage(db: Kysely<Database>) {
  return db
    .selectFrom('model_versions as v')
    .innerJoin('model_stages as s', (j) => j.onRef('s.app', '=', 'v.app').onRef('s.version', '=', 'v.version'))
    .selectAll('v')
    .select('s.stage');
}

function assertStage(stage: string): asserts stage is ModelStage {
  if (!(MODEL_STAGES as readonly string[]).includes(stage)) {
    throw new StoreError('invalid', `Unknown stage ${JSON.stringify(stage)}; use one of ${MODEL_STAGES.join(', ')}.`);
  }
}

export function registryOps(ctx: OpsContext): RegistryOps {
  return {
    async createModelVersion(input) {
      const stage = input.stage ?? 'candidate';
      assertStage(stage);
      return ctx.atomic(async (db) => {
        const parent = input.parentVersion ?? null;
        if (parent !== null) {
          const exists = await db
            .selectFrom('model_versions')
            .select('version')
            .where('app', '=', input.app)
            .where('version', '=', parent)
            .executeTakeFirst();
          if (!exists)
            throw new StoreError('not_found', `Parent version ${parent} of app ${input.app} does not exist.`, {
              app: input.app,
              parentVersion: parent,
            });
        }
        const version = await nextCounter(db, 'model_version', input.app);
        const at = ctx.now();
        await db
          .insertInto('model_versions')
          .values({
            app: input.app,
            version,
            parent_version: parent,
            created_at: at,
            source: input.source,
            round_id: input.roundId ?? null,
            clients: input.clients ?? null,
            clip_norm: input.clipNorm ?? null,
            noise_multiplier: input.noiseMultiplier ?? null,
            epsilon: input.epsilon ?? null,
            metrics: toJson(input.metrics ?? {}),
            topology: toJson(input.topology),
            weight_specs: toJson(input.weightSpecs),
            input_spec: input.inputSpec == null ? null : toJson(input.inputSpec),
            labels: input.labels == null ? null : toJson(input.labels),
            variants: toJson(input.variants),
          })
          .execute();
        await db.insertInto('model_stages').values({ app: input.app, version, stage, updated_at: at }).execute();
        await db
          .insertInto('stage_history')
          .values({
            app: input.app,
            version,
            from_stage: null,
            to_stage: stage,
            actor: input.actor ?? 'system',
            reason: 'created',
            at,
          })
          .execute();
        const row = await versionsWithStage(db)
          .where('v.app', '=', input.app)
          .where('v.version', '=', version)
          .executeTakeFirstOrThrow();
        return toModelVersion(row);
      });
    },
    async getModelVersion(app, version) {
      const row = await versionsWithStage(ctx.db)
        .where('v.app', '=', app)
        .where('v.version', '=', version)
        .executeTakeFirst();
      return row ? toModelVersion(row) : null;
    },
    async listModelVersions(app, query = {}) {
      let q = versionsWithStage(ctx.db).where('v.app', '=', app);
      if (query.stage !== undefined) q = q.where('s.stage', '=', query.stage);
      const rows = await q
        .orderBy('v.version', 'desc')
        .limit(pageLimit(query.limit))
        .offset(pageOffset(query.offset))
        .execute();
      return rows.map(toModelVersion);
    },
    async latestModelVersion(app) {
      const row = await versionsWithStage(ctx.db)
        .where('v.app', '=', app)
        .orderBy('v.version', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? toModelVersion(row) : null;
    },
    async appReferencesBlob(app, hash) {
      if (!/^[0-9a-f]{64}$/.test(hash)) return false;
      // Hex only, so no LIKE wildcard can come in. Weight variants and shards live
      // in `variants`, the topology blob's hash in `topology`.
      const pattern = `%"${hash}"%`;
      const row = await ctx.db
        .selectFrom('model_versions')
        .select('version')
        .where('app', '=', app)
        .where((eb) => eb.or([eb('variants', 'like', pattern), eb('topology', 'like', pattern)]))
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },
    async listApps() {
      const rows = await ctx.db.selectFrom('model_versions').select('app').distinct().orderBy('app').execute();
      return rows.map((r) => r.app);
    },
    async setStage(app, version, change) {
      assertStage(change.to);
      return ctx.atomic(async (db) => {
        const current = await db
          .selectFrom('model_stages')
          .select('stage')
          .where('app', '=', app)
          .where('version', '=', version)
          .executeTakeFirst();
        if (!current) throw new StoreError('not_found', `Model ${app} v${version} does not exist.`, { app, version });
        const from = current.stage as ModelStage;
        if (change.expectedFrom !== undefined && change.expectedFrom !== from) {
          throw new StoreError(
            'conflict',
            `Model ${app} v${version} is in stage ${from}, not ${change.expectedFrom}; reload and retry.`,
            { app, version, stage: from },
          );
        }
        const at = ctx.now();
        // The conditional WHERE makes a concurrent move (PostgreSQL) fail here instead of being overwritten.
        const r = await db
          .updateTable('model_stages')
          .set({ stage: change.to, updated_at: at })
          .where('app', '=', app)
          .where('version', '=', version)
          .where('stage', '=', from)
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1)
          throw new StoreError('conflict', `Model ${app} v${version} changed stage concurrently; retry.`, {
            app,
            version,
          });
        const row = await db
          .insertInto('stage_history')
          .values({
            app,
            version,
            from_stage: from,
            to_stage: change.to,
            actor: change.actor,
            reason: change.reason ?? null,
            at,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toStageTransition(row);
      });
    },
    async stageHistory(app, version) {
      let q = ctx.db.selectFrom('stage_history').selectAll().where('app', '=', app);
      if (version !== undefined) q = q.where('version', '=', version);
      const rows = await q.orderBy('id').execute();
      return rows.map(toStageTransition);
    },

    async publishManifest({ app, version, sign }) {
      return ctx.atomic(async (db) => {
        const exists = await db
          .selectFrom('model_versions')
          .select('version')
          .where('app', '=', app)
          .where('version', '=', version)
          .executeTakeFirst();
        if (!exists)
          throw new StoreError('not_found', `Cannot publish a manifest for ${app} v${version}: no such version.`, {
            app,
            version,
          });
        const generation = await nextCounter(db, 'manifest_generation', app);
        const signedManifest = await sign(generation);
        const row = { app, generation, version, signed_manifest: toJson(signedManifest), created_at: ctx.now() };
        await db.insertInto('manifests').values(row).execute();
        return toManifest(row);
      });
    },
    async latestManifest(app) {
      const row = await ctx.db
        .selectFrom('manifests')
        .selectAll()
        .where('app', '=', app)
        .orderBy('generation', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? toManifest(row) : null;
    },
    async getManifest(app, generation) {
      const row = await ctx.db
        .selectFrom('manifests')
        .selectAll()
        .where('app', '=', app)
        .where('generation', '=', generation)
        .executeTakeFirst();
      return row ? toManifest(row) : null;
    },
  };
}
