/**
 * This process's in-memory sums of open rounds: for each round, a streaming
 * accumulator (null for a robust strategy, which reads every stored update at
 * close) and the devices already in it.
 *
 * A cache, never the truth: an update is folded only after its row is
 * durable, and the closer folds from storage every stored update no sum
 * covers, so losing this map (a restart) loses nothing acknowledged.
 */
import { decodeTensors } from '../../shared/codec/index.ts';
import { sizeOfShape, type WeightSpec } from '../../shared/model/index.ts';
import type { TaskPlan } from '../../shared/protocol/index.ts';
import { createAccumulator, serverStrategy, type Accumulator } from '../aggregation/index.ts';
import { ApiError } from '../http/api-error.ts';
import type { BlobStore } from '../store/index.ts';
import { planNormBound } from './admit-upload.ts';

/** One round's sum in this process. */
export interface RoundFold {
  accumulator: Accumulator | null;
  folded: Set<string>;
}

/** One admitted, durable update, as the fold takes it. */
export interface FoldableUpdate {
  deviceId: string;
  deltas: Float32Array[];
  /** The admitted example count (its weight unless central DP weighs every update 1). */
  numExamples: number;
}

/**
 * The weight an update carries in the sum: 1 under central DP (its
 * sensitivity assumes unweighted summands), else its admitted example count.
 */
export function foldWeight(plan: TaskPlan, numExamples: number): number {
  return plan.noiseMultiplier > 0 ? 1 : numExamples;
}

/**
 * Adds one update to a round's sum, once per device.
 * @example foldUpdate(fold, plan, { deviceId, deltas, numExamples: 120 });
 */
export function foldUpdate(fold: RoundFold, plan: TaskPlan, update: FoldableUpdate): void {
  if (fold.folded.has(update.deviceId)) return;
  fold.folded.add(update.deviceId);
  fold.accumulator?.add(update.deltas, foldWeight(plan, update.numExamples));
}

/**
 * Reads a stored update's tensors in the order of the version's weight specs.
 * A tensor the update lacks is a frozen layer's (admission refused any other
 * absence): it reads as zeros, as the fold took it.
 * @throws ApiError 'internal' when the blob is missing
 */
export async function readStoredUpdate(blobs: BlobStore, hash: string, specs: WeightSpec[]): Promise<Float32Array[]> {
  const bytes = await blobs.get(hash);
  if (!bytes) throw new ApiError('internal', `stored update blob ${hash} is missing`);
  const tensors = decodeTensors(bytes);
  const byName = new Map(tensors.map((t) => [t.name, t.data]));
  return specs.map((s) => byName.get(s.name) ?? new Float32Array(sizeOfShape(s.shape)));
}

/** The sums of every round this process folds into. */
export class RoundFolds {
  private readonly folds = new Map<string, RoundFold>();

  /** The round's sum, created empty (with the strategy's norm bound) on first use. */
  of(roundId: string, plan: TaskPlan, specs: WeightSpec[], clipNorm: number): RoundFold {
    let fold = this.folds.get(roundId);
    if (!fold) {
      const strategy = serverStrategy(plan.strategy);
      // Central DP needs every summand bounded by exactly clipNorm (its sensitivity).
      const bound = plan.noiseMultiplier > 0 ? clipNorm : planNormBound(plan, clipNorm, specs);
      // A robust strategy keeps every update in the store and reads them all at close: nothing to fold.
      const accumulator =
        strategy.aggregate === 'weighted-mean'
          ? createAccumulator(specs, { normBound: strategy.updateNormBound(bound) })
          : null;
      fold = { accumulator, folded: new Set() };
      this.folds.set(roundId, fold);
    }
    return fold;
  }

  /** Removes the round's sum and hands it to the caller (who then owns its accumulator). */
  take(roundId: string): RoundFold | undefined {
    const fold = this.folds.get(roundId);
    this.folds.delete(roundId);
    return fold;
  }

  /** Drops the round's sum and frees its accumulator. */
  dispose(roundId: string): void {
    this.take(roundId)?.accumulator?.dispose();
  }

  /** The rounds this process holds a sum for. */
  roundIds(): string[] {
    return [...this.folds.keys()];
  }

  /** Frees every sum (on stop). */
  disposeAll(): void {
    for (const fold of this.folds.values()) fold.accumulator?.dispose();
    this.folds.clear();
  }
}
