/**
 * The pure half of closing a round from flushed partial sums: how a partial
 * sum is encoded as a blob, and which flushed partials a closer may merge.
 *
 * Exactness: every update is counted once, either in the closer's own fold,
 * in exactly one accepted partial, or read from storage. A partial is merged
 * only if all of its devices are stored updates of the round that nothing
 * merged so far covers; otherwise it is ignored whole and its devices come
 * from storage. So a bug or a stale row can cost time, never a wrong sum.
 */
import { decodeTensors, encodeTensors } from '../../shared/codec/index.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import type { RoundPartial } from '../store/index.ts';

/** Name of the marker tensor that makes each partial's blob unique to its (round, process). */
const MARKER_PREFIX = 'flock:partial-sum:';

/**
 * Encodes a partial sum (fp32, lossless). The leading marker tensor names the
 * round and process, so the blob's hash is never shared with an update or
 * another partial and the closer may delete it after the close.
 *
 * @example
 * const bytes = encodePartialSum(specs, acc.snapshot().sum, roundId, processId);
 */
export function encodePartialSum(
  specs: readonly WeightSpec[],
  sum: readonly Float32Array[],
  roundId: string,
  processId: string,
): Uint8Array {
  const marker = { name: `${MARKER_PREFIX}${roundId}:${processId}`, shape: [1], data: new Float32Array(1) };
  return encodeTensors([marker, ...specs.map((s, i) => ({ name: s.name, shape: [...s.shape], data: sum[i] }))], {
    encoding: 'fp32',
  });
}

/**
 * Decodes a blob from `encodePartialSum`, checking it belongs to this round and process.
 *
 * @example
 * const sum = decodePartialSum(bytes, specs, partial.roundId, partial.processId);
 */
export function decodePartialSum(
  bytes: Uint8Array,
  specs: readonly WeightSpec[],
  roundId: string,
  processId: string,
): Float32Array[] {
  const tensors = decodeTensors(bytes);
  if (tensors[0]?.name !== `${MARKER_PREFIX}${roundId}:${processId}`)
    throw new Error(`blob is not the partial sum of ${processId} for round ${roundId}`);
  const byName = new Map(tensors.slice(1).map((t) => [t.name, t.data]));
  return specs.map((s) => {
    const data = byName.get(s.name);
    if (!data) throw new Error(`partial sum of ${processId} lacks tensor ${s.name}`);
    return data;
  });
}

export interface PartialChoice {
  /** Non-empty partials to merge, in order; their devices are pairwise disjoint and disjoint from `own`. */
  merge: RoundPartial[];
  /** Partials ignored whole, with the reason (their devices come from storage). */
  ignored: Array<{ partial: RoundPartial; reason: string }>;
}

/**
 * Chooses which flushed partials to merge, oldest first: a partial whose
 * devices are not all stored updates, or overlap what the closer's own fold
 * or an earlier partial covers, or whose bound differs, is ignored whole.
 *
 * @example
 * const { merge, ignored } = choosePartials(partials, new Set(updates.map((u) => u.deviceId)), fold.folded, normBound);
 */
export function choosePartials(
  partials: readonly RoundPartial[],
  stored: ReadonlySet<string>,
  own: ReadonlySet<string>,
  normBound: number | null,
): PartialChoice {
  const covered = new Set(own);
  const merge: RoundPartial[] = [];
  const ignored: PartialChoice['ignored'] = [];
  for (const partial of partials) {
    if (partial.deviceIds.length === 0) continue;
    const unknown = partial.deviceIds.find((d) => !stored.has(d));
    const twice = partial.deviceIds.find((d) => covered.has(d));
    if (unknown !== undefined)
      ignored.push({ partial, reason: `device ${unknown} has no stored update in this round` });
    else if (twice !== undefined)
      ignored.push({
        partial,
        reason: `device ${twice} is already covered by another partial or the closer's own sum`,
      });
    else if (partial.normBound !== normBound)
      ignored.push({ partial, reason: `bounded at ${partial.normBound}, the round at ${normBound}` });
    else if (partial.count !== partial.deviceIds.length || partial.sumHash === null)
      ignored.push({ partial, reason: 'its counters do not match its devices' });
    else {
      merge.push(partial);
      for (const d of partial.deviceIds) covered.add(d);
    }
  }
  return { merge, ignored };
}
