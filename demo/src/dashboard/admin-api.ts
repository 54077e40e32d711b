/**
 * The dashboard's reads of the admin API. The key is entered once per tab and
 * kept in sessionStorage (not localStorage: an admin key should not outlive
 * the browsing session).
 */
import type { ModelVersionView, RoundView, TaskView } from '../../../shared/protocol/index.ts';
import type { DriftView, RolloutDetail } from './rollout-panel.ts';

const KEY_ITEM = 'flock.adminKey';

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

/**
 * GET an admin route as JSON; null on 404 (a route this coordinator lacks).
 * @throws AdminApiError with the coordinator's error message (401/403: the key is wrong)
 *
 * @example
 * const { tasks } = await getAdmin<{ tasks: TaskView[] }>('/v1/admin/tasks');
 */
export async function getAdmin<T>(path: string): Promise<T | null> {
  const key = adminKey.get();
  if (!key) throw new AdminApiError(401, 'enter the admin key first');
  const res = await fetch(path, { headers: { authorization: `Bearer ${key}` } });
  if (res.status === 404) return null;
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new AdminApiError(res.status, body?.error?.message ?? `${path} answered ${res.status}`);
  }
  return (await res.json()) as T;
}

export interface DashboardData {
  tasks: { task: TaskView; rounds: RoundWithMetrics[] }[];
  versions: { app: string; versions: ModelVersionView[] }[];
  /** Newest rollouts with evidence; null: this coordinator has no rollout API. */
  rollouts: RolloutDetail[] | null;
  /** Drift flags per app (apps whose drift route answered). */
  drift: DriftView[];
  devices: Record<string, unknown>[];
}

/**
 * Everything the dashboard shows, read in parallel where independent.
 *
 * @example
 * render(await loadDashboard());
 */
export async function loadDashboard(): Promise<DashboardData> {
  const [tasksAnswer, rolloutsAnswer, devicesAnswer] = await Promise.all([
    getAdmin<{ tasks: TaskView[] }>('/v1/admin/tasks'),
    getAdmin<{ rollouts: RolloutDetail[] }>('/v1/admin/rollouts'),
    getAdmin<{ devices: Record<string, unknown>[] }>('/v1/admin/devices?limit=200'),
  ]);
  const taskList = tasksAnswer?.tasks ?? [];
  const tasks = await Promise.all(taskList.map(async (task) => ({ task, rounds: (await getAdmin<{ rounds: RoundWithMetrics[] }>(`/v1/admin/tasks/${task.id}/rounds`))?.rounds ?? [] })));
  const apps = [...new Set(['digits', ...taskList.map((t) => t.app)])];
  const versions = await Promise.all(apps.map(async (app) => ({ app, versions: (await getAdmin<{ versions: ModelVersionView[] }>(`/v1/admin/models/${app}/versions`))?.versions ?? [] })));
  const rollouts = rolloutsAnswer === null ? null : (await Promise.all(
    rolloutsAnswer.rollouts.slice(0, ROLLOUTS_SHOWN).map(async (r) => (await getAdmin<RolloutDetail>(`/v1/admin/rollouts/${encodeURIComponent(r.id)}`)) ?? r),
  ));
  const drift = (await Promise.all(apps.map((app) => getAdmin<DriftView>(`/v1/admin/models/${encodeURIComponent(app)}/drift`)))).filter((d): d is DriftView => d !== null);
  return { tasks, versions, rollouts, drift, devices: devicesAnswer?.devices ?? [] };
}
