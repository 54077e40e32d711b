/**
 * The I/O half of closing a round from partial sums: ask the live processes
 * to flush, wait (bounded) for their rows, then merge the acceptable ones
 * into the closer's accumulator. What no merged partial covers is left for
 * the caller to read from storage, as after a crash.
 */
import type { Accumulator } from '../aggregation/index.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { BlobStore, RoundPartial, Store, UpdateReceipt } from '../store/index.ts';
import { choosePartials, decodePartialSum, encodePartialSum } from './partial-flush.ts';
import type { RoundSignals } from './round-signals.ts';

/**
 * Writes one process's partial sum of a round (an empty one when it folded
 * nothing) and disposes the accumulator. Call it synchronously after taking
 * the fold out of use: the snapshot and `devices` must describe the same updates.
 *
 * @example
 * await writePartial({ store, log, roundId, processId, accumulator: fold.accumulator, devices: fold.folded });
 */
export async function writePartial(o: {
  store: Store;
  log: Logger;
  roundId: string;
  processId: string;
  accumulator: Accumulator | null;
  devices: ReadonlySet<string>;
}): Promise<void> {
  const acc = o.accumulator;
  // Taken before any await, so no fold can slip in between the sum and the device list.
  let snapshot = acc && o.devices.size > 0 ? acc.snapshot() : null;
  let devices = snapshot ? [...o.devices] : [];
  if (snapshot && snapshot.count !== devices.length) {
    o.log.error(
      { round: o.roundId, count: snapshot.count, devices: devices.length },
      'partial sum and its device set disagree; flushing an empty partial instead',
    );
    snapshot = null;
    devices = [];
  }
  const specs = acc?.specs ?? [];
  acc?.dispose();
  const sumHash = snapshot
    ? (await o.store.blobs.put(encodePartialSum(specs, snapshot.sum, o.roundId, o.processId))).hash
    : null;
  await o.store.putRoundPartial({
    roundId: o.roundId,
    processId: o.processId,
    deviceIds: devices,
    count: snapshot?.count ?? 0,
    totalWeight: snapshot?.totalWeight ?? 0,
    boundedCount: snapshot?.boundedCount ?? 0,
    maxUpdateNorm: snapshot?.maxUpdateNorm ?? 0,
    normBound: snapshot?.normBound ?? null,
    sumHash,
  });
  o.log.info({ round: o.roundId, process: o.processId, updates: devices.length }, 'partial sum flushed');
}

/** Partial sum blobs are unique to their (round, process) (see encodePartialSum), so deleting them cannot hit a shared blob. */
export async function deletePartialBlobs(
  store: Store,
  partials: ReadonlyArray<{ sumHash: string | null }>,
): Promise<void> {
  for (const p of partials) if (p.sumHash) await store.blobs.delete(p.sumHash).catch(() => false);
}

/** Where a closed round's updates came from (stored in the round's metrics). */
export interface PartialMergeCounts {
  /** Updates the closer itself had folded. */
  fromOwnFold: number;
  /** Updates merged from other processes' flushed partials. */
  fromPartials: number;
  /** Updates read from storage (crashed, silent or late processes; bad partials). */
  fromStorage: number;
  partialsMerged: number;
  partialsIgnored: number;
  flushWaitMs: number;
}

const POLL_MS = 100;

/**
 * Publishes a flush request and waits until every other live process has a
 * partial row for the round, or `waitMs` passes; returns the rows there are.
 *
 * @example
 * const partials = await collectPartials({ store, signals, roundId, processId, waiters, liveSince, waitMs: 3000 });
 */
export async function collectPartials(o: {
  store: Store;
  signals: RoundSignals;
  roundId: string;
  processId: string;
  /** Per round, the wake-ups that the service's 'flushed' handler calls. */
  waiters: Map<string, Set<() => void>>;
  liveSince: string;
  waitMs: number;
}): Promise<RoundPartial[]> {
  const until = Date.now() + o.waitMs;
  await o.signals.publish({ type: 'flush', roundId: o.roundId, from: o.processId }).catch(() => undefined);
  const others = (await o.store.listLiveProcesses(o.liveSince)).map((p) => p.id).filter((id) => id !== o.processId);
  let partials = await o.store.listRoundPartials(o.roundId);
  const answered = () => new Set(partials.map((p) => p.processId));
  while (others.some((id) => !answered().has(id)) && Date.now() < until) {
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.min(POLL_MS, Math.max(0, until - Date.now())));
      const set = o.waiters.get(o.roundId) ?? new Set();
      o.waiters.set(o.roundId, set);
      set.add(wake);
    });
    partials = await o.store.listRoundPartials(o.roundId);
  }
  if (o.waiters.get(o.roundId)?.size === 0) o.waiters.delete(o.roundId);
  return partials;
}

/**
 * Merges the acceptable partials into `accumulator` and marks their devices
 * in `folded`; logs every ignored partial loudly. The caller then folds every
 * stored update not in `folded` from storage.
 *
 * @example
 * const counts = await mergePartials({ accumulator, folded, partials, updates, specs, blobs, log, roundId });
 */
export async function mergePartials(o: {
  accumulator: Accumulator;
  folded: Set<string>;
  partials: readonly RoundPartial[];
  updates: readonly UpdateReceipt[];
  specs: readonly WeightSpec[];
  blobs: BlobStore;
  log: Logger;
  roundId: string;
}): Promise<Omit<PartialMergeCounts, 'flushWaitMs'>> {
  const fromOwnFold = o.folded.size;
  const stored = new Set(o.updates.map((u) => u.deviceId));
  const { merge, ignored } = choosePartials(o.partials, stored, o.folded, o.accumulator.normBound);
  let fromPartials = 0;
  let merged = 0;
  let ignoredCount = ignored.length;
  for (const { partial, reason } of ignored) {
    o.log.error(
      { round: o.roundId, process: partial.processId, devices: partial.deviceIds.length, reason },
      'IGNORING a flushed partial sum; its updates are read from storage',
    );
  }
  for (const partial of merge) {
    try {
      const bytes = await o.blobs.get(partial.sumHash!);
      if (!bytes) throw new Error(`its sum blob ${partial.sumHash} is missing`);
      const sum = decodePartialSum(bytes, o.specs, o.roundId, partial.processId);
      o.accumulator.merge({
        sum,
        count: partial.count,
        totalWeight: partial.totalWeight,
        boundedCount: partial.boundedCount,
        maxUpdateNorm: partial.maxUpdateNorm,
        normBound: partial.normBound,
      });
    } catch (err) {
      ignoredCount++;
      o.log.error(
        { err, round: o.roundId, process: partial.processId },
        'IGNORING a flushed partial sum that cannot be read or merged; its updates are read from storage',
      );
      continue;
    }
    for (const d of partial.deviceIds) o.folded.add(d);
    fromPartials += partial.count;
    merged++;
  }
  const fromStorage = o.updates.filter((u) => !o.folded.has(u.deviceId)).length;
  return { fromOwnFold, fromPartials, fromStorage, partialsMerged: merged, partialsIgnored: ignoredCount };
}
