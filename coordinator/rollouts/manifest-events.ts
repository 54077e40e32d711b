/**
 * Manifest change notifications for the SSE route. The in-process emitter
 * serves one coordinator; several processes on PostgreSQL need a fan-out
 * (LISTEN/NOTIFY on a `flock_manifest` channel) behind this same interface,
 * so the route and the rollout service never know which one runs.
 */
import { EventEmitter } from 'node:events';

export interface ManifestChange {
  app: string;
  /** The newest generation published for the app (devices still resolve their own cohort's). */
  generation: number;
  reason: string;
}

export interface ManifestEvents {
  publish(change: ManifestChange): void;
  /** Returns the unsubscribe function. */
  subscribe(app: string, listener: (change: ManifestChange) => void): () => void;
}

/**
 * @example
 * const events = inProcessManifestEvents();
 * const off = events.subscribe('digits', (c) => console.log(c.generation));
 */
export function inProcessManifestEvents(): ManifestEvents {
  const emitter = new EventEmitter();
  // One listener per open SSE connection: thousands are normal, not a leak.
  emitter.setMaxListeners(0);
  return {
    publish(change) {
      emitter.emit(`app:${change.app}`, change);
    },
    subscribe(app, listener) {
      emitter.on(`app:${app}`, listener);
      return () => emitter.off(`app:${app}`, listener);
    },
  };
}
