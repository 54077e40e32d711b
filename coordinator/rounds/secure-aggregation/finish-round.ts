/**
 * The end of a secure-aggregation round that unmasked: the survivors' sum
 * mod 2^32 -> decodeDdgSum -> divided by the survivors (the equal-weight
 * mean: the coordinator cannot weight what it cannot see) -> the task's
 * server strategy applies it like a FedAvg mean (publishRoundResult, which
 * also registers version N+1 with its lineage), and the round is charged the
 * DDG's privacy event (q = 1, no amplification claimed).
 *
 * The mean reaches the strategy as an accumulator holding the decoded sum
 * with `count = totalWeight = survivors`, so `mean()` is sum / survivors; the
 * weights the version freezes are zeros in it, as in a plain round's sum.
 */
import { createAccumulator } from '../../aggregation/index.ts';
import type { CoordinatorMetrics } from '../../observability/metrics.ts';
import type { Round, Store } from '../../store/index.ts';
import { requireModelVersion } from '../admit-upload.ts';
import { chargeRound, roundEpsilon } from '../privacy-budget.ts';
import { publishRoundResult } from '../publish-round.ts';
import { decodeDdgSum, type SecAggResult } from '../../../shared/secagg/index.ts';
import type { SecAggRound } from './secagg-round.ts';

/** The decoded sum laid out as the version's tensors (frozen weights zero). */
function tensorsOfSum(total: Float32Array, round: SecAggRound): Float32Array[] {
  const summed = new Set(round.ddg.summed.map((s) => s.name));
  let offset = 0;
  return round.specs.map((spec) => {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (!summed.has(spec.name)) return new Float32Array(size);
    const part = total.slice(offset, offset + size);
    offset += size;
    return part;
  });
}

/**
 * Publishes the round's mean as the next version; null when the round was no
 * longer open (another close got there first).
 * @example const closed = await publishSecAggRound({ store, metrics, state, result });
 */
export async function publishSecAggRound(o: {
  store: Store;
  metrics: CoordinatorMetrics;
  state: SecAggRound;
  result: SecAggResult;
}): Promise<{ round: Round; epsilonSpent: number | null } | null> {
  const { store, state, result } = o;
  const survivors = result.survivors.length;
  const total = await decodeDdgSum(result.sum, state.ddg.plan, {
    rotationSeed: state.rotationSeed,
    roundId: state.roundId,
  });
  if (!(await store.beginClosing(state.roundId))) return null;
  const round = (await store.getRound(state.roundId))!;
  const task = (await store.getTask(round.taskId))!;
  const plan = task.plan;
  const version = await requireModelVersion(store, task.app, round.globalVersion);
  const accumulator = createAccumulator(version.weightSpecs);
  try {
    accumulator.merge({
      sum: tensorsOfSum(total, state),
      count: survivors,
      totalWeight: survivors,
      boundedCount: 0,
      maxUpdateNorm: 0,
      normBound: null,
    });
    const event = state.ddg.event;
    const privacy = event ? chargeRound(plan, task.accountant, event) : null;
    const epsilonSpent = event ? roundEpsilon(plan, event) : null;
    const stats = { ...state.stats(), phase: 'done' as const, epsilonSpent };
    const closed = await publishRoundResult({
      store,
      metrics: o.metrics,
      round,
      task,
      plan,
      version,
      specs: version.weightSpecs,
      clipNorm: state.ddg.options.clipNorm,
      updates: [],
      aggregate: { kind: 'mean', accumulator },
      reason: 'secure-aggregation',
      sources: {
        fromOwnFold: 0,
        fromPartials: 0,
        fromStorage: 0,
        partialsMerged: 0,
        partialsIgnored: 0,
        flushWaitMs: 0,
      },
      secureAggregation: {
        survivors,
        privacy,
        metrics: {
          secureAggregation: stats,
          droppedAfterSharing: result.dropped.length,
          ddgGranularity: state.ddg.plan.granularity,
          ddgBits: state.ddg.plan.bits,
          ddgDeviceNoiseVariance: state.ddg.plan.deviceNoiseVariance,
          ddgL2Sensitivity: state.ddg.plan.l2Sensitivity,
        },
      },
    });
    return closed ? { round: closed, epsilonSpent } : null;
  } finally {
    accumulator.dispose();
  }
}
