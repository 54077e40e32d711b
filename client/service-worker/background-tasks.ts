/**
 * The task ids a page asked the service worker to train in the background
 * (per app),
 * kept in their own Cache Storage entry: a service worker's memory is gone
 * whenever the browser stops it, and a sync event may start it cold. The
 * cache name has no shell prefix, so shell clean-up on activate keeps it.
 */
const CONFIG_CACHE = 'flock-sw-config';
const tasksKey = (app: string) => `/__flock/background-tasks/${encodeURIComponent(app)}`;

/**
 * @example
 * await saveBackgroundTasks('digits', ['task_1']);
 * await loadBackgroundTasks('digits'); // ['task_1']
 */
export async function saveBackgroundTasks(app: string, tasks: string[]): Promise<void> {
  const cache = await caches.open(CONFIG_CACHE);
  await cache.put(
    tasksKey(app),
    new Response(JSON.stringify({ tasks }), { headers: { 'content-type': 'application/json' } }),
  );
}

/** The saved task ids, or none (nothing saved, or an entry this build cannot read). */
export async function loadBackgroundTasks(app: string): Promise<string[]> {
  const hit = await (await caches.open(CONFIG_CACHE)).match(tasksKey(app));
  if (!hit) return [];
  try {
    const body: unknown = await hit.json();
    const tasks = (body as { tasks?: unknown }).tasks;
    return Array.isArray(tasks) ? tasks.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}
