/**
 * What `flock status` does: one look at a coordinator. Where it is, what it
 * runs on (store, aggregation backend, version), whether the admin key works,
 * the version in production per app, active tasks and running rollouts. It
 * loads neither tfjs nor a store: only zod and the answers' schemas.
 *
 * @example
 * npx flock status --url http://127.0.0.1:8787      # exit 1 when unreachable or the key is refused
 */
import { z } from 'zod';
import { ModelVersionListSchema, TaskViewSchema } from '../shared/protocol/index.ts';
import { HealthSchema, type Health } from '../shared/protocol/health.ts';
import { RolloutViewSchema } from '../shared/protocol/rollouts.ts';
import {
  AdminApiError,
  adminRequest,
  cell,
  renderTable,
  resolveConnection,
  type AdminConnection,
  type ConnectionFlags,
} from './admin-http.ts';
import type { CliIo } from './index.ts';

const TasksSchema = z.object({ tasks: z.array(TaskViewSchema.passthrough()) });
const RolloutsSchema = z.object({ rollouts: z.array(RolloutViewSchema.passthrough()) });
const AppsSchema = z.object({
  apps: z.array(z.object({ app: z.string(), simulator: z.boolean() })),
  hiddenSimulators: z.int(),
});

export interface StatusReport {
  url: string;
  health: Health;
  adminKey: 'accepted' | 'refused';
  /** Every app with a model version, except simulator apps (`flock simulate`'s) with nothing active. */
  production: { app: string; version: number | null }[];
  /** Simulator apps left out of `production`. */
  hiddenSimulatorApps: number;
  activeTasks: { id: string; app: string; name: string | null; rounds: number }[];
  runningRollouts: {
    id: string;
    app: string;
    candidateVersion: number;
    controlVersion: number;
    canaryPercent: number;
    status: string;
  }[];
}

/** Gathers the report; the admin parts are empty when the key is refused. */
export async function coordinatorStatus(conn: AdminConnection): Promise<StatusReport> {
  const health = await adminRequest(conn, { call: (api) => api.healthz.$get(), schema: HealthSchema });
  const report: StatusReport = {
    url: conn.baseUrl,
    health,
    adminKey: 'accepted',
    production: [],
    hiddenSimulatorApps: 0,
    activeTasks: [],
    runningRollouts: [],
  };
  let tasks: z.output<typeof TasksSchema>['tasks'];
  try {
    ({ tasks } = await adminRequest(conn, { call: (api) => api.v1.admin.tasks.$get(), schema: TasksSchema }));
  } catch (error) {
    if (error instanceof AdminApiError && (error.code === 'unauthorized' || error.code === 'forbidden'))
      return { ...report, adminKey: 'refused' };
    throw error;
  }
  const { rollouts } = await adminRequest(conn, {
    call: (api) => api.v1.admin.rollouts.$get({ query: {} }),
    schema: RolloutsSchema,
  });
  report.activeTasks = tasks
    .filter((t) => t.status === 'active')
    .map((t) => ({ id: t.id, app: t.app, name: t.name, rounds: t.roundsCompleted }));
  report.runningRollouts = rollouts
    .filter((r) => r.status === 'running' || r.status === 'paused')
    .map((r) => ({
      id: r.id,
      app: r.app,
      candidateVersion: r.candidateVersion,
      controlVersion: r.controlVersion,
      canaryPercent: r.canaryPercent,
      status: r.status,
    }));
  const listed = await adminRequest(conn, {
    call: (api) => api.v1.admin.apps.$get({ query: { simulators: 'true' } }),
    schema: AppsSchema,
  });
  const busy = new Set([...report.activeTasks.map((t) => t.app), ...report.runningRollouts.map((r) => r.app)]);
  const shown = listed.apps.filter((a) => !a.simulator || busy.has(a.app));
  report.hiddenSimulatorApps = listed.apps.length - shown.length;
  const apps = shown.map((a) => a.app).sort();
  for (const app of apps) {
    const { versions } = await adminRequest(conn, {
      call: (api) => api.v1.admin.models[':app'].versions.$get({ param: { app: encodeURIComponent(app) } }),
      schema: ModelVersionListSchema,
    });
    report.production.push({ app, version: versions.find((v) => v.stage === 'production')?.version ?? null });
  }
  return report;
}

/** Human text for a report. */
export function describeStatus(r: StatusReport): string {
  const lines = [
    `coordinator ${r.url}: ${r.health.status}, flock ${r.health.version} (protocol ${r.health.protocolVersion})`,
    `  store: ${r.health.store}, aggregation backend: ${r.health.aggregationBackend ?? 'not chosen yet'}${r.health.aggregationDevice ? ` on ${r.health.aggregationDevice}` : ''}`,
    `  admin key: ${r.adminKey === 'accepted' ? 'accepted' : 'refused (check --admin-key / FLOCK_ADMIN_KEY)'}`,
  ];
  if (r.adminKey === 'refused') return `${lines.join('\n')}\n`;
  lines.push(
    '',
    r.production.length
      ? renderTable(
          ['app', 'in production'],
          r.production.map((p) => [p.app, p.version === null ? 'none' : `v${p.version}`]),
        ).trimEnd()
      : 'no models yet; push one with "flock model push DIR --app NAME"',
  );
  if (r.hiddenSimulatorApps > 0)
    lines.push(
      `(and ${r.hiddenSimulatorApps} simulator app${r.hiddenSimulatorApps > 1 ? 's' : ''} from flock simulate, with nothing active)`,
    );
  lines.push(
    '',
    r.activeTasks.length
      ? renderTable(
          ['active task', 'app', 'name', 'rounds'],
          r.activeTasks.map((t) => [t.id, t.app, cell(t.name), String(t.rounds)]),
        ).trimEnd()
      : 'no active tasks',
  );
  lines.push(
    '',
    r.runningRollouts.length
      ? renderTable(
          ['rollout', 'app', 'candidate', 'control', 'canary %', 'status'],
          r.runningRollouts.map((x) => [
            x.id,
            x.app,
            `v${x.candidateVersion}`,
            `v${x.controlVersion}`,
            String(x.canaryPercent),
            x.status,
          ]),
        ).trimEnd()
      : 'no running rollouts',
  );
  return `${lines.join('\n')}\n`;
}

export type StatusFlags = ConnectionFlags & { json?: boolean };

/** `flock status`: prints the report; exit 1 when the admin key is refused. */
export async function printStatus(flags: StatusFlags, io: CliIo): Promise<void> {
  const report = await coordinatorStatus(resolveConnection(flags));
  io.out(flags.json ? `${JSON.stringify(report)}\n` : describeStatus(report));
  if (report.adminKey === 'refused')
    throw new AdminApiError(
      'unauthorized: the coordinator refused the admin key; check --admin-key / FLOCK_ADMIN_KEY',
      'unauthorized',
      401,
    );
}
