/**
 * `GET /v1/apps/:app/events` (device token): server-sent events. On connect
 * (and so on every reconnect, with or without Last-Event-ID) the device gets
 * its current manifest as a `manifest` event, then one whenever the app's
 * manifest changes and its own cohort's generation moved, plus heartbeats.
 * Each heartbeat also re-resolves the manifest, which catches changes made by
 * code paths or processes that did not announce them.
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { deviceOf, requireDevice } from '../auth/middleware.ts';
import type { CoordinatorDeps } from '../deps.ts';
import { ApiError } from '../http/api-error.ts';
import type { Env } from '../http/env.ts';
import { manifestForDevice } from '../rollouts/index.ts';

export const DEFAULT_HEARTBEAT_MS = 15_000;

export function eventRoutes(deps: CoordinatorDeps, options: { heartbeatMs?: number } = {}) {
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const app = new Hono<Env>();
  app.use('/v1/apps/:app/events', requireDevice({ ...deps.auth }));
  return app.get('/v1/apps/:app/events', async (c) => {
    const principal = deviceOf(c.get('principal'));
    const appName = c.req.param('app');
    if (appName !== principal.app)
      throw new ApiError('forbidden', `this device is registered for app ${principal.app}`);
    const lastEventId = c.req.header('last-event-id') ?? null;
    return streamSSE(c, async (stream) => {
      let lastSent = -1;
      let wake: (() => void) | null = null;
      let dirty = true;
      const off = deps.rollouts.events.subscribe(appName, () => {
        dirty = true;
        wake?.();
      });
      stream.onAbort(() => wake?.());
      const sendManifest = async () => {
        dirty = false;
        const m = await manifestForDevice(deps.store, appName, principal.deviceId);
        if (!m || m.record.generation === lastSent) return;
        lastSent = m.record.generation;
        await stream.writeSSE({
          event: 'manifest',
          id: `g${m.record.generation}`,
          data: JSON.stringify({
            generation: m.record.generation,
            version: m.record.version,
            cohort: m.cohort,
            rolloutId: m.rolloutId,
            resumedFrom: lastEventId,
          }),
        });
      };
      try {
        await stream.writeSSE({ event: 'hello', data: JSON.stringify({ app: appName, heartbeatMs }), retry: 3000 });
        while (!stream.aborted && !stream.closed) {
          if (dirty) await sendManifest();
          const timedOut = await new Promise<boolean>((resolve) => {
            // A change that arrived while sendManifest was awaiting found no `wake` to call.
            if (dirty) return resolve(false);
            const t = setTimeout(() => resolve(true), heartbeatMs);
            wake = () => {
              clearTimeout(t);
              resolve(false);
            };
          });
          wake = null;
          if (stream.aborted || stream.closed) break;
          if (timedOut) {
            await stream.writeSSE({
              event: 'heartbeat',
              data: JSON.stringify({ at: new Date(deps.clock.now()).toISOString() }),
            });
            dirty = true;
          }
        }
      } finally {
        off();
      }
    });
  });
}
