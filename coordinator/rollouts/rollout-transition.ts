/**
 * What every rollout transition shares: the coordinator parts it runs on, one
 * store transaction per transition with effects queued until it commits, and
 * the reads whose absence is the operator's error (a missing rollout or
 * version, an app without production).
 *
 * Each transition that changes what devices are served (start, advance,
 * promote, rollback, abort) is one store transaction: its manifests, stage
 * moves, rollout row and audit entries commit together, and devices read
 * their manifest from one snapshot (rollout-manifests.ts), so none sees half
 * a transition. Before, a device polling between the canary manifest's
 * publication and the rollout row's update got the canary manifest as "the
 * app's latest", control devices too. Announcements go out only after the commit.
 */
import type { SigningKey } from '../auth/bootstrap.ts';
import { ApiError } from '../http/api-error.ts';
import type { Logger } from '../observability/logger.ts';
import type { ModelVersion, Rollout, Store, StoreOps } from '../store/index.ts';
import type { ManifestEvents } from './manifest-events.ts';

/** The parts a rollout transition runs on. */
export interface RolloutContext {
  store: Store;
  signing: SigningKey;
  log: Logger;
  events: ManifestEvents;
  now: () => Date;
}

/** Queues an effect (an announcement, a log line) to run once the transition has committed. */
export type AfterCommit = (effect: () => void) => void;

/**
 * Runs one transition in one store transaction, then its queued effects:
 * a device told of a change must find it when it re-reads, and nothing is
 * announced or logged for a transition that rolled back.
 */
export async function runTransition<T>(store: Store, fn: (tx: StoreOps, after: AfterCommit) => Promise<T>): Promise<T> {
  const effects: Array<() => void> = [];
  const result = await store.transaction((tx) => fn(tx, (effect) => effects.push(effect)));
  for (const effect of effects) effect();
  return result;
}

/** Tells devices of the app's new generation once the transition has committed. */
export function announce(
  ctx: Pick<RolloutContext, 'events'>,
  after: AfterCommit,
  app: string,
  generation: number,
  reason: string,
): void {
  after(() => ctx.events.publish({ app, generation, reason }));
}

export async function mustGetRollout(store: StoreOps, id: string): Promise<Rollout> {
  const r = await store.getRollout(id);
  if (!r) throw new ApiError('not_found', `no rollout ${id}; list them with "flock rollout list"`);
  return r;
}

export async function versionOf(ops: StoreOps, app: string, version: number): Promise<ModelVersion> {
  const v = await ops.getModelVersion(app, version);
  if (!v) throw new ApiError('not_found', `model ${app} has no version ${version}`);
  return v;
}

export async function productionOf(ops: StoreOps, app: string): Promise<ModelVersion> {
  const production = (await ops.listModelVersions(app, { stage: 'production', limit: 1 }))[0];
  if (!production)
    throw new ApiError(
      'conflict',
      `app ${app} has no production version to compare against; promote one with "flock model stage"`,
    );
  return production;
}
