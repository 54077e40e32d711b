/**
 * The dashboard's calls to the admin API, the same routes the CLI uses. The
 * key is entered once per tab and kept in sessionStorage (not localStorage:
 * an admin key should not outlive the browsing session).
 */
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

export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdminApiError';
  }
}

export type RoundWithMetrics = RoundView & { metrics: Record<string, unknown> };

/** Rollouts shown in detail (with verdict evidence and shadow report); older ones are not fetched. */
export const ROLLOUTS_SHOWN = 5;

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T | null> {
  const key = adminKey.get();
  if (!key) throw new AdminApiError(401, 'enter the admin key first');
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (res.status === 404 && method === 'GET') return null;
  if (!res.ok) {
    const answer = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new AdminApiError(res.status, answer?.error?.message ?? `${path} answered ${res.status}`);
  }
  return (await res.json()) as T;
}

/**
 * GET an admin route as JSON; null on 404 (a route this coordinator lacks).
 * @throws AdminApiError with the coordinator's error message (401/403: the key is wrong)
 *
 * @example
 * const { tasks } = await getAdmin<{ tasks: TaskView[] }>('/v1/admin/tasks');
 */
export const getAdmin = <T>(path: string): Promise<T | null> => call<T>('GET', path);

/**
 * POST an operator action with its JSON body.
 * @throws AdminApiError with the coordinator's message (e.g. 409 "rollout ... is aborted; it has already ended")
 *
 * @example
 * await postAdmin(`/v1/admin/rollouts/${id}/pause`, { reason: 'latency alert' });
 */
export async function postAdmin<T>(path: string, body: unknown): Promise<T> {
  const answer = await call<T>('POST', path, body);
  if (answer === null) throw new AdminApiError(404, `${path} answered 404`);
  return answer;
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
  const a = encodeURIComponent(app);
  const [tasksAnswer, rolloutsAnswer, devicesAnswer, versionsAnswer, drift, census] = await Promise.all([
    getAdmin<{ tasks: TaskView[] }>('/v1/admin/tasks'),
    getAdmin<{ rollouts: RolloutDetail[] }>(`/v1/admin/rollouts?app=${a}`),
    getAdmin<{ devices: Record<string, unknown>[] }>(`/v1/admin/devices?app=${a}&limit=${DEVICES_LISTED}`),
    getAdmin<{ versions: ModelVersionView[] }>(`/v1/admin/models/${a}/versions`),
    getAdmin<DriftView>(`/v1/admin/models/${a}/drift`),
    getAdmin<DeviceCensus>(`/v1/admin/apps/${a}/devices/census`),
  ]);
  const taskList = (tasksAnswer?.tasks ?? []).filter((t) => t.app === app);
  const tasks = await Promise.all(
    taskList.map(async (task) => ({
      task,
      rounds:
        (await getAdmin<{ rounds: RoundWithMetrics[] }>(`/v1/admin/tasks/${encodeURIComponent(task.id)}/rounds`))
          ?.rounds ?? [],
    })),
  );
  const rollouts =
    rolloutsAnswer === null
      ? null
      : await Promise.all(
          rolloutsAnswer.rollouts
            .slice(0, ROLLOUTS_SHOWN)
            .map(async (r) => (await getAdmin<RolloutDetail>(`/v1/admin/rollouts/${encodeURIComponent(r.id)}`)) ?? r),
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
  const answer = await getAdmin<{ apps: { app: string }[]; hiddenSimulators: number }>(
    `/v1/admin/apps${simulators ? '?simulators=true' : ''}`,
  );
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
  const q = new URLSearchParams({ limit: String(AUDIT_PAGE) });
  for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
  if (beforeId !== undefined) q.set('beforeId', String(beforeId));
  return (
    (await getAdmin<{ entries: AuditEntry[]; nextBeforeId: number | null }>(`/v1/admin/audit?${q}`)) ?? {
      entries: [],
      nextBeforeId: null,
    }
  );
}
