/**
 * The dashboard's calls to the admin API, through the same typed admin client
 * (coordinator/admin-client.ts) the CLI uses. The key is entered once per tab and kept in sessionStorage (not localStorage:
 * an admin key should not outlive the browsing session).
 */
import {
  AdminApiError,
  adminAnswer,
  adminClient,
  type AdminResponse,
  type SuccessBody,
} from '../../../coordinator/admin-client.ts';
import type { ModelVersionView, RoundView, TaskView } from '../../../shared/protocol/index.ts';
import type { DriftView, RolloutDetail } from './rollout-panel.ts';

const KEY_ITEM = 'flock.adminKey';
/** A request that has not answered by then is reported as failed, never left pending. */
const REQUEST_TIMEOUT_MS = 20_000;

export const adminKey = {
  get: (): string | null => sessionStorage.getItem(KEY_ITEM),
  set: (key: string) => sessionStorage.setItem(KEY_ITEM, key.trim()),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

export { AdminApiError };

/** The typed admin client (coordinator/admin-client.ts) on this page's origin, with the tab's key. */
const api = adminClient({
  baseUrl: '',
  adminKey: () => {
    const key = adminKey.get();
    if (!key) throw new AdminApiError('enter the admin key first', 'unauthorized', 401);
    return key;
  },
  timeoutMs: REQUEST_TIMEOUT_MS,
});

export type RoundWithMetrics = RoundView & { metrics: Record<string, unknown> };

/** Rollouts shown in detail (with verdict evidence and shadow report); older ones are not fetched. */
export const ROLLOUTS_SHOWN = 5;

/**
 * A read's answer, or null on 404 (a route this coordinator lacks, or an app it does not know).
 * @throws AdminApiError with the coordinator's message (401/403: the key is wrong)
 *
 * @example
 * const census = await readAdmin(api.v1.admin.apps[':app'].devices.census.$get({ param: { app } }));
 */
async function readAdmin<R extends AdminResponse>(pending: Promise<R>): Promise<SuccessBody<R> | null> {
  try {
    return await adminAnswer(pending);
  } catch (error) {
    if (error instanceof AdminApiError && error.status === 404) return null;
    throw error;
  }
}

const ROLLOUT_ACTIONS = ['pause', 'resume', 'promote', 'abort'] as const;
const isRolloutAction = (a: string): a is (typeof ROLLOUT_ACTIONS)[number] =>
  (ROLLOUT_ACTIONS as readonly string[]).includes(a);

/**
 * An operator action on a rollout or task, with the reason for the audit log; answers the new status.
 * @throws AdminApiError with the coordinator's message (e.g. 409 "rollout ... is aborted; it has already ended")
 *
 * @example
 * await operatorAction('rollouts', 'ro_1', 'pause', 'latency alert');
 */
export async function operatorAction(
  kind: 'rollouts' | 'tasks',
  id: string,
  action: string,
  reason: string,
): Promise<{ status: string }> {
  const request = { param: { id: encodeURIComponent(id) }, json: { reason } };
  if (kind === 'tasks' && (action === 'pause' || action === 'resume'))
    return adminAnswer(api.v1.admin.tasks[':id'][action].$post(request));
  if (kind === 'rollouts' && isRolloutAction(action))
    return adminAnswer(api.v1.admin.rollouts[':id'][action].$post(request));
  throw new AdminApiError(`the dashboard has no "${action}" action for ${kind}`, 'bad_request', null);
}

/** `GET /v1/admin/apps/:app/devices/census`. */
export interface DeviceCensus {
  devices: number;
  byBackend: Record<string, number>;
  byVersion: Record<string, number>;
  byLastSeen: Record<string, number>;
  truncated: boolean;
}

export interface DashboardData {
  app: string;
  tasks: { task: TaskView; rounds: RoundWithMetrics[] }[];
  versions: ModelVersionView[];
  /** Newest rollouts with evidence; null: this coordinator has no rollout API. */
  rollouts: RolloutDetail[] | null;
  /** Null when the drift route did not answer. */
  drift: DriftView | null;
  devices: Record<string, unknown>[];
  /** Null on a coordinator without the census route. */
  census: DeviceCensus | null;
}

/** Devices listed row by row; the census counts them all. */
export const DEVICES_LISTED = 50;

/**
 * Everything the dashboard shows for one app, read in parallel where independent.
 *
 * @example
 * render(await loadDashboard('digits'));
 */
export async function loadDashboard(app: string): Promise<DashboardData> {
  const param = { app: encodeURIComponent(app) };
  const [tasksAnswer, rolloutsAnswer, devicesAnswer, versionsAnswer, drift, census] = await Promise.all([
    readAdmin(api.v1.admin.tasks.$get()),
    readAdmin(api.v1.admin.rollouts.$get({ query: { app } })),
    readAdmin(api.v1.admin.devices.$get({ query: { app, limit: String(DEVICES_LISTED) } })),
    readAdmin(api.v1.admin.models[':app'].versions.$get({ param })),
    // The drift route answers a loose record (its shape is the rollouts module's DriftReport).
    readAdmin(api.v1.admin.models[':app'].drift.$get({ param, query: {} })) as Promise<DriftView | null>,
    readAdmin(api.v1.admin.apps[':app'].devices.census.$get({ param })),
  ]);
  // hono's JSON-parsed type of a plan's strategy (a transformed zod union) widens one member to {}: read as TaskView.
  const taskList = ((tasksAnswer?.tasks ?? []) as TaskView[]).filter((t) => t.app === app);
  const tasks = await Promise.all(
    taskList.map(async (task) => ({
      task,
      rounds:
        (await readAdmin(api.v1.admin.tasks[':id'].rounds.$get({ param: { id: encodeURIComponent(task.id) } })))
          ?.rounds ?? [],
    })),
  );
  const rollouts =
    rolloutsAnswer === null
      ? null
      : await Promise.all(
          rolloutsAnswer.rollouts
            .slice(0, ROLLOUTS_SHOWN)
            .map(
              async (r): Promise<RolloutDetail> =>
                (await readAdmin(api.v1.admin.rollouts[':id'].$get({ param: { id: encodeURIComponent(r.id) } }))) ?? r,
            ),
        );
  return {
    app,
    tasks,
    versions: versionsAnswer?.versions ?? [],
    rollouts,
    drift,
    devices: devicesAnswer?.devices ?? [],
    census,
  };
}

/** `GET /v1/admin/apps`: app names, simulator apps only when asked. */
export async function loadApps(simulators: boolean): Promise<{ apps: string[]; hiddenSimulators: number }> {
  const answer = await readAdmin(api.v1.admin.apps.$get({ query: simulators ? { simulators: 'true' } : {} }));
  return { apps: answer?.apps.map((a) => a.app) ?? [], hiddenSimulators: answer?.hiddenSimulators ?? 0 };
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
}

export interface AuditFilters {
  action?: string;
  actor?: string;
  target?: string;
  /** ISO 8601 with an offset. */
  since?: string;
}

/** Audit entries shown per page. */
export const AUDIT_PAGE = 25;

/**
 * One page of the audit log, newest first; `beforeId` pages further back.
 * @example
 * const { entries, nextBeforeId } = await loadAudit({ action: 'rollout.pause' });
 */
export async function loadAudit(
  filters: AuditFilters,
  beforeId?: number,
): Promise<{ entries: AuditEntry[]; nextBeforeId: number | null }> {
  const query: Record<string, string> = { limit: String(AUDIT_PAGE) };
  for (const [k, v] of Object.entries(filters)) if (v) query[k] = v;
  if (beforeId !== undefined) query.beforeId = String(beforeId);
  return (await readAdmin(api.v1.admin.audit.$get({ query }))) ?? { entries: [], nextBeforeId: null };
}
