/**
 * The last step of closing a round: the strategy's server update from the
 * aggregate (with central DP noise and the privacy charge when the plan has
 * them), the new weights stored as registry variants, and one transaction
 * that creates the version with its lineage, closes the round and moves the
 * task on. Losing that transaction to another process that finished the
 * same round first rolls it back and returns null.
 *
 * The weights of layers the version's spec freezes are copied from the
 * parent, bit for bit, whatever the strategy or central DP noise made of
 * them: no device trained them and no update carried them.
 */
import type { TaskPlan } from '../../shared/protocol/index.ts';
import { isFrozenWeight, type WeightSpec } from '../../shared/model/index.ts';
import { finalizeRound, type RoundAggregate } from '../aggregation/index.ts';
import { ApiError } from '../http/api-error.ts';
import type { CoordinatorMetrics } from '../observability/metrics.ts';
import { storeVariantBlobs } from '../registry/publish.ts';
import { weightsFromVariant } from '../registry/variants.ts';
import type { AccountantState, JsonObject, ModelVersion, Round, Store, Task, UpdateReceipt } from '../store/index.ts';
import type { PartialMergeCounts } from './closing-partials.ts';
import type { DeviceShareBound } from './device-share.ts';
import { frozenLayersOf } from './frozen-layers.ts';
import { decodeOptimizerState, encodeOptimizerState } from './optimizer-state.ts';
import { chargeRound } from './privacy-budget.ts';
import { evaluateRound } from './round-evaluation.ts';

/** Thrown inside the closing transaction to roll it back when another process closed the round first. */
class LostCloseRace extends Error {}

export interface PublishRoundInput {
  store: Store;
  metrics: CoordinatorMetrics;
  /** The round, in 'closing', whose updates `aggregate` sums. */
  round: Round;
  task: Task;
  plan: TaskPlan;
  /** The global version the round trained from. */
  version: ModelVersion;
  specs: WeightSpec[];
  clipNorm: number;
  updates: UpdateReceipt[];
  aggregate: RoundAggregate;
  /** What closed it: quorum, deadline, recovery or manual. */
  reason: string;
  /** Where the summed updates came from (own fold, partials, storage). */
  sources: PartialMergeCounts;
  /** Updates whose weight the per-device share bound lowered, and to what (device-share.ts); none when absent. */
  shareBound?: DeviceShareBound;
  /**
   * A secure-aggregation round (rounds/secure-aggregation/) has no update rows:
   * its survivors stand in for the reports, the DDG charge for the central one,
   * and its figures join the round's metrics.
   */
  secureAggregation?: {
    survivors: number;
    privacy: { state: AccountantState; epsilon: number } | null;
    metrics: JsonObject;
  };
}

/**
 * @example
 * const closed = await publishRoundResult({ store, metrics, round, task, plan, version, specs, clipNorm, updates, aggregate, reason: 'quorum', sources });
 * if (!closed) return store.getRound(round.id); // another process finished it first
 */
export async function publishRoundResult(input: PublishRoundInput): Promise<Round | null> {
  const {
    store,
    metrics,
    round,
    task,
    plan,
    version,
    specs,
    clipNorm,
    updates,
    aggregate,
    reason,
    sources,
    shareBound,
  } = input;
  const fp32 = version.variants.find((v) => v.encoding === 'fp32')!;
  const globalBytes = await store.blobs.get(fp32.sha256);
  if (!globalBytes) throw new ApiError('internal', `global weights blob ${fp32.sha256} is missing`);
  const globals = weightsFromVariant(globalBytes, specs);
  const optimizerBytes = task.optimizerStateHash ? await store.blobs.get(task.optimizerStateHash) : null;
  const unclippedCount = updates.filter((u) => (u.preClipNorm ?? Infinity) <= clipNorm).length;
  const dp =
    plan.noiseMultiplier > 0
      ? {
          clipNorm,
          noiseMultiplier: plan.noiseMultiplier,
          expectedClients: plan.clientsPerRound,
          adaptive: plan.adaptiveClipping
            ? {
                unclippedCount,
                targetUnclippedQuantile: plan.adaptiveClipping.targetQuantile,
                learningRate: plan.adaptiveClipping.learningRate,
              }
            : undefined,
        }
      : undefined;
  const result = await finalizeRound({
    strategy: plan.strategy,
    aggregate,
    globals,
    optimizerState: optimizerBytes ? decodeOptimizerState(optimizerBytes) : null,
    dp,
  });
  metrics.aggregationSeconds.observe(
    { strategy: plan.strategy.name, backend: result.stats.backend },
    result.stats.ms / 1000,
  );

  const frozen = await frozenLayersOf(store, version);
  const weights = result.weights.map((w, i) => (isFrozenWeight(specs[i].name, frozen) ? globals[i] : w));
  const variants = await storeVariantBlobs(store, specs, weights);
  const optimizerState = await store.blobs.put(encodeOptimizerState(result.optimizerState));
  const secAgg = input.secureAggregation;
  const privacy = secAgg ? secAgg.privacy : dp ? chargeRound(plan, task.accountant) : null;
  const reports = secAgg?.survivors ?? updates.length;
  const mean = (key: 'trainLoss' | 'trainAccuracy') => {
    const values = updates.map((u) => u.meta[key]).filter((v): v is number => typeof v === 'number');
    return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  };
  const roundMetrics: JsonObject = {
    reports,
    examples: updates.reduce((n, u) => n + u.numExamples, 0),
    updateNorm: result.stats.updateNorm,
    aggregationMs: result.stats.ms,
    backend: result.stats.backend,
    trainLoss: mean('trainLoss'),
    trainAccuracy: mean('trainAccuracy'),
    noiseStddev: result.stats.noiseStddev,
    closedBy: reason,
    fromOwnFold: sources.fromOwnFold,
    fromPartials: sources.fromPartials,
    fromStorage: sources.fromStorage,
    partialsMerged: sources.partialsMerged,
    partialsIgnored: sources.partialsIgnored,
    flushWaitMs: sources.flushWaitMs,
    weightsLowered: shareBound?.lowered ?? 0,
    weightCeiling: shareBound?.ceiling ?? null,
    ...secAgg?.metrics,
  };
  // Before the transaction: evaluation runs tfjs, and its figures belong to the round and the version alike.
  Object.assign(roundMetrics, await evaluateRound(store, plan, version, specs, weights));
  return store
    .transaction<Round | null>(async (tx) => {
      const created = await tx.createModelVersion({
        app: task.app,
        parentVersion: round.globalVersion,
        source: 'round',
        roundId: round.id,
        clients: reports,
        clipNorm,
        noiseMultiplier: plan.secureAggregation?.noiseMultiplier ?? plan.noiseMultiplier,
        epsilon: privacy?.epsilon ?? null,
        metrics: roundMetrics,
        topology: version.topology,
        weightSpecs: specs,
        inputSpec: version.inputSpec,
        labels: version.labels,
        variants,
        stage: 'candidate',
        actor: 'system',
      });
      const finished = await tx.finishRound(round.id, {
        from: ['closing'],
        to: 'closed',
        resultVersion: created.version,
        metrics: roundMetrics,
      });
      // Another process recovering this 'closing' round finished it first: roll back our version.
      if (!finished) throw new LostCloseRace();
      await tx.updateTask(task.id, {
        currentVersion: created.version,
        optimizerStateHash: optimizerState.hash,
        ...(privacy ? { accountant: privacy.state, epsilonSpent: privacy.epsilon } : {}),
        ...(result.nextClipNorm !== null ? { clipNorm: result.nextClipNorm } : {}),
      });
      await tx.appendAudit({
        actor: 'system',
        action: 'round.closed',
        target: round.id,
        details: {
          task: task.id,
          version: created.version,
          reports,
          epsilon: privacy?.epsilon ?? null,
        },
      });
      return finished;
    })
    .catch((error: unknown) => {
      if (error instanceof LostCloseRace) return null;
      throw error;
    });
}
