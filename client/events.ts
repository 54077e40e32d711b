/**
 * The typed events a `Flock` emits. A listener that throws never breaks the
 * SDK or the other listeners: its error is reported on the console.
 */

/** Event name -> payload. */
export interface FlockEventMap {
  /** A newer model version was verified, stored and activated. */
  'model-updated': { app: string; version: number; previousVersion: number | null; encoding: string };
  /** The device was invited to a federated round and started training. */
  'round-started': { taskId: string; roundId: string };
  /** The device's update for a round was uploaded (or the round was given up). */
  'round-finished': { taskId: string; roundId: string; uploaded: boolean };
  /** Something failed in the background (model update, upload, a lost GPU device); the current model keeps running. */
  error: { error: Error; during: 'model-update' | 'registration' | 'round' | 'backend' };
}

export type FlockEventName = keyof FlockEventMap;
export type FlockListener<K extends FlockEventName> = (payload: FlockEventMap[K]) => void;

/** A small emitter over `FlockEventMap`; `on` returns the function that removes the listener. */
export class FlockEvents {
  readonly #listeners = new Map<FlockEventName, Set<(payload: never) => void>>();

  on<K extends FlockEventName>(event: K, listener: FlockListener<K>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  emit<K extends FlockEventName>(event: K, payload: FlockEventMap[K]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as FlockListener<K>)(payload);
      } catch (error) {
        console.error(`flock: a '${event}' listener threw`, error);
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}
