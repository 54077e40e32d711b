/**
 * Evaluation that feeds the charts: a task whose plan names a holdout has each
 * round's new version evaluated on it, and the accuracy and loss are kept with
 * the round (and the version) for `flock task rounds` and the dashboard. The
 * holdout is resolved and checked once, when the task is made; an evaluation
 * that fails later is recorded with its reason and never fails the round.
 */
import { modelFromParts, type WeightSpec } from '../../shared/model/index.ts';
import type { TaskPlan } from '../../shared/protocol/index.ts';
import { ApiError } from '../http/api-error.ts';
import { assertHoldoutFits, HoldoutError, readHoldout, type Holdout } from '../registry/holdout.ts';
import { holdoutMetrics, scoreHoldout } from '../registry/holdout-score.ts';
import { loadModelSpec, tfjsTopologyOf } from '../registry/model-spec-file.ts';
import type { JsonObject, ModelVersion, Store } from '../store/index.ts';

/** The metrics key under which a pushed version keeps the sha256 of its holdout. */
export const HOLDOUT_BLOB_METRIC = 'holdoutSha256';

/** A holdout blob's examples must fit the version's input. */
const checkFits = (holdout: Holdout, version: ModelVersion) =>
  assertHoldoutFits(
    holdout,
    (version.inputSpec as { shape?: (number | null)[] }).shape ?? [],
    `${version.app}@${version.version}`,
  );

/**
 * The plan with its evaluation holdout resolved to a sha256 and checked
 * against the base version; the plan unchanged when it asks for none.
 * @throws ApiError unprocessable when the holdout is missing, unreadable or does not fit the model
 *
 * @example
 * const plan = await resolveEvaluation(store, parsedPlan, baseVersion); // { ..., evaluation: { holdout: '3f1a…' } }
 */
export async function resolveEvaluation(store: Store, plan: TaskPlan, base: ModelVersion): Promise<TaskPlan> {
  if (!plan.evaluation) return plan;
  const named = plan.evaluation.holdout;
  const sha256 = named === 'model' ? base.metrics[HOLDOUT_BLOB_METRIC] : named;
  if (typeof sha256 !== 'string') {
    throw new ApiError(
      'unprocessable',
      `evaluation.holdout "model": ${base.app}@${base.version} was pushed without a holdout; push it with "flock model push --holdout FILE" or name a holdout's sha256`,
    );
  }
  const bytes = await store.blobs.get(sha256);
  if (!bytes) throw new ApiError('unprocessable', `evaluation.holdout: no stored holdout ${sha256}`);
  try {
    checkFits(readHoldout(bytes), base);
  } catch (error) {
    if (error instanceof HoldoutError) throw new ApiError('unprocessable', `evaluation.holdout: ${error.message}`);
    throw error;
  }
  return { ...plan, evaluation: { holdout: sha256 } };
}

/**
 * Accuracy and loss of `weights` (in `version`'s topology) on the plan's
 * holdout, as round metrics; `{}` when the plan evaluates nothing.
 *
 * @example
 * Object.assign(roundMetrics, await evaluateRound(store, plan, version, specs, result.weights));
 * // { holdoutAccuracy: 0.91, holdoutLoss: 0.31, holdoutCount: 1000 } (regression: holdoutMeanAbsoluteError)
 */
export async function evaluateRound(
  store: Store,
  plan: TaskPlan,
  version: ModelVersion,
  specs: WeightSpec[],
  weights: Float32Array[],
): Promise<JsonObject> {
  const sha256 = plan.evaluation?.holdout;
  if (!sha256) return {};
  try {
    const bytes = await store.blobs.get(sha256);
    if (!bytes) throw new HoldoutError(`holdout ${sha256} is no longer stored`);
    const holdout = readHoldout(bytes);
    checkFits(holdout, version);
    const topology = tfjsTopologyOf(version);
    // Holdouts hold feature vectors (already preprocessed, as `flock holdout make` writes them); the spec's
    // output kind decides how a row is scored (registry/holdout-score.ts: regression by mean absolute error).
    const spec = await loadModelSpec(store, version);
    const model = await modelFromParts({ topology, weightSpecs: specs, weights });
    try {
      return holdoutMetrics(await scoreHoldout(model, holdout, spec?.output));
    } finally {
      model.dispose();
    }
  } catch (error) {
    return { holdoutError: error instanceof Error ? error.message : String(error) };
  }
}
