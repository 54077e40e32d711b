/**
 * Append-only logs: the audit trail of admin actions and the client telemetry
 * that rollout analysis reads back by (app, version, kind, since).
 */
import { StoreError } from './errors.ts';
import { isoTime, pageLimit } from './context.ts';
import type { OpsContext } from './context.ts';
import { toAuditEntry, toJson, toTelemetry } from './rows.ts';
import type { StoreOps } from './store.ts';

type LogOps = Pick<
  StoreOps,
  'appendAudit' | 'listAudit' | 'appendTelemetry' | 'listTelemetry' | 'deleteTelemetryBefore'
>;

/** Rows per INSERT: keeps bound parameters well under SQLite's and PostgreSQL's limits. */
const TELEMETRY_BATCH = 200;

export function logOps(ctx: OpsContext): LogOps {
  return {
    async appendAudit(entry) {
      if (!entry.actor || !entry.action)
        throw new StoreError('invalid', 'An audit entry needs an actor and an action.');
      const row = await ctx.db
        .insertInto('audit_log')
        .values({
          at: ctx.now(),
          actor: entry.actor,
          action: entry.action,
          target: entry.target ?? null,
          details: toJson(entry.details ?? {}),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toAuditEntry(row);
    },
    async listAudit(query = {}) {
      let q = ctx.db.selectFrom('audit_log').selectAll();
      if (query.beforeId !== undefined) q = q.where('id', '<', query.beforeId);
      if (query.actor !== undefined) q = q.where('actor', '=', query.actor);
      if (query.action !== undefined) q = q.where('action', '=', query.action);
      if (query.target !== undefined) q = q.where('target', '=', query.target);
      if (query.since !== undefined) q = q.where('at', '>=', query.since);
      const rows = await q.orderBy('id', 'desc').limit(pageLimit(query.limit)).execute();
      return rows.map(toAuditEntry);
    },
    async appendTelemetry(events) {
      if (events.length === 0) return 0;
      const at = ctx.now();
      const rows = events.map((e) => ({
        device_id: e.deviceId,
        app: e.app,
        version: e.version ?? null,
        kind: e.kind,
        payload: toJson(e.payload),
        at: e.at === undefined ? at : isoTime(e.at, 'telemetry at'),
      }));
      await ctx.atomic(async (db) => {
        for (let i = 0; i < rows.length; i += TELEMETRY_BATCH) {
          await db
            .insertInto('telemetry')
            .values(rows.slice(i, i + TELEMETRY_BATCH))
            .execute();
        }
      });
      return rows.length;
    },
    async listTelemetry(query) {
      let q = ctx.db.selectFrom('telemetry').selectAll().where('app', '=', query.app);
      if (query.version !== undefined) q = q.where('version', '=', query.version);
      if (query.kind !== undefined) q = q.where('kind', '=', query.kind);
      if (query.since !== undefined) q = q.where('at', '>=', query.since);
      if (query.afterId !== undefined) q = q.where('id', '>', query.afterId);
      const rows = await q.orderBy('id').limit(pageLimit(query.limit)).execute();
      return rows.map(toTelemetry);
    },
    async deleteTelemetryBefore(before) {
      const result = await ctx.db
        .deleteFrom('telemetry')
        .where('at', '<', isoTime(before, 'telemetry retention cutoff'))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
