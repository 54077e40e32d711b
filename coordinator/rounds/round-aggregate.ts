/**
 * What a closing round aggregates: for a weighted-mean strategy, one sum of
 * every stored update (this process's fold, the partials other processes
 * flushed, and from storage whatever no sum covers), each device's share then
 * bounded; for a robust strategy, a reader over every stored update.
 */
import type { WeightSpec } from '../../shared/model/index.ts';
import type { TaskPlan } from '../../shared/protocol/index.ts';
import type { RoundAggregate } from '../aggregation/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { Store, UpdateReceipt } from '../store/index.ts';
import { mergePartials, type PartialMergeCounts } from './closing-partials.ts';
import { boundDeviceShares, type DeviceShareBound } from './device-share.ts';
import type { PartialExchange } from './partial-exchange.ts';
import { foldWeight, readStoredUpdate, type RoundFold } from './round-folds.ts';

export interface GatheredAggregate {
  aggregate: RoundAggregate;
  /** Where the updates came from (stored in the round's metrics). */
  sources: PartialMergeCounts;
  shareBound: DeviceShareBound;
}

/**
 * @example
 * const { aggregate, sources, shareBound } = await gatherAggregate({ store, log, now, roundId, plan, specs, updates, fold, partials });
 */
export async function gatherAggregate(o: {
  store: Store;
  log: Logger;
  now(): number;
  roundId: string;
  plan: TaskPlan;
  specs: WeightSpec[];
  updates: UpdateReceipt[];
  /** This process's sum of the round. */
  fold: RoundFold;
  /** The exchange with other processes; null when this process is alone on its store. */
  partials: PartialExchange | null;
}): Promise<GatheredAggregate> {
  const { store, specs, updates, plan } = o;
  const read = (hash: string) => readStoredUpdate(store.blobs, hash, specs);
  if (!o.fold.accumulator) {
    return {
      aggregate: {
        kind: 'updates',
        specs,
        source: { count: updates.length, read: (i: number) => read(updates[i].blobHash) },
      },
      sources: {
        fromOwnFold: 0,
        fromPartials: 0,
        fromStorage: updates.length,
        partialsMerged: 0,
        partialsIgnored: 0,
        flushWaitMs: 0,
      },
      shareBound: { lowered: 0, ceiling: null },
    };
  }
  const { accumulator, folded } = o.fold;
  const waitStarted = o.now();
  const partials = o.partials ? await o.partials.collect(o.roundId) : [];
  const flushWaitMs = o.now() - waitStarted;
  const counts = await mergePartials({
    accumulator,
    folded,
    partials,
    updates,
    specs,
    blobs: store.blobs,
    log: o.log,
    roundId: o.roundId,
  });
  for (const u of updates) {
    if (folded.has(u.deviceId)) continue;
    folded.add(u.deviceId);
    accumulator.add(await read(u.blobHash), foldWeight(plan, u.numExamples));
  }
  // Every update is in the sum with its admitted count: now no device may own more than its bounded share.
  const shareBound = await boundDeviceShares({ accumulator, updates, plan, read });
  return { aggregate: { kind: 'mean', accumulator }, sources: { ...counts, flushWaitMs }, shareBound };
}
