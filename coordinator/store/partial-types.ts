/**
 * Plain objects of migration 0003: coordinator process heartbeats and the
 * partial sums processes flush when a round closes (see rounds/partial-flush.ts).
 */
import type { IsoTime } from './types.ts';

/** One coordinator process as its heartbeat row shows it. */
export interface CoordinatorProcessRecord {
  id: string;
  startedAt: IsoTime;
  heartbeatAt: IsoTime;
}

/** What a process flushes for a closing round: counters, the covered devices and (unless empty) the sum's blob. */
export interface NewRoundPartial {
  roundId: string;
  processId: string;
  /** The exact devices whose updates the sum covers; empty for "I folded nothing". */
  deviceIds: string[];
  count: number;
  totalWeight: number;
  boundedCount: number;
  maxUpdateNorm: number;
  normBound: number | null;
  /** Hash from `blobs.put` of the encoded sum (write it first); null when `deviceIds` is empty. */
  sumHash: string | null;
}

export interface RoundPartial extends NewRoundPartial {
  createdAt: IsoTime;
}
