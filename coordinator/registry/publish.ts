/**
 * The registry's storage side: turns a validated model package (or a round's
 * new weights) into immutable, content-addressed blobs and a model version
 * row, moves versions between stages, and publishes signed manifests.
 *
 * Order matters for crash safety: blobs are written (durably) before the row
 * that names them, so a crash leaves at worst unreferenced blobs, never a
 * version whose files are missing.
 */
import { PROTOCOL_VERSION } from '../../shared/protocol/index.ts';
import { signManifest, type Manifest } from '../../shared/manifest/index.ts';
import type { WeightSpec } from '../../shared/model/index.ts';
import type { SigningKey } from '../auth/bootstrap.ts';
import { ApiError } from '../http/api-error.ts';
import type { JsonObject, ModelStage, ModelVariant, ModelVersion, Store, StoreOps } from '../store/index.ts';
import { checkVariantHoldout, type VariantHoldoutReport } from './variant-accuracy.ts';
import { HOLDOUT_BLOB_METRIC } from '../rounds/round-evaluation.ts';
import { readHoldout } from './holdout.ts';
import { readModelFiles, type ModelPackage } from './model-files.ts';
import {
  assertSpecFitsModel,
  MODEL_SPEC_TOPOLOGY_KEY,
  modelSpecRefOf,
  parseModelSpecFile,
  storeModelSpec,
} from './model-spec-file.ts';
import { canonicalJson } from './topology-hash.ts';
import { deriveVariants, shardBytes, type VariantEncoding } from './variants.ts';

export interface PushModelInput {
  app: string;
  files: ReadonlyMap<string, Uint8Array>;
  holdout?: Uint8Array;
  stage?: ModelStage;
  actor: string;
  maxModelBytes: number;
  maxAccuracyDrop: number;
}

export interface PushModelResult {
  version: ModelVersion;
  /** The holdout gate's report (accuracy, or mean absolute error for regression); null without a holdout. */
  accuracy: VariantHoldoutReport | null;
  refusedVariants: VariantEncoding[];
}

/** Writes each variant's file and its shards as blobs; returns the variant records. */
export async function storeVariantBlobs(
  store: Store,
  weightSpecs: readonly WeightSpec[],
  weights: Float32Array[],
  encodings?: readonly VariantEncoding[],
): Promise<ModelVariant[]> {
  const variants = deriveVariants({ weightSpecs: [...weightSpecs], weights }, encodings);
  const out: ModelVariant[] = [];
  for (const variant of variants) {
    // The whole file is a blob too: Node clients and the round logic read it in one request.
    const whole = await store.blobs.put(variant.bytes);
    const shards = [];
    for (const shard of shardBytes(variant.bytes)) shards.push(await store.blobs.put(shard));
    out.push({ encoding: variant.encoding, totalBytes: variant.bytes.byteLength, sha256: whole.hash, shards });
  }
  return out;
}

/** Stores the canonical topology JSON as a blob; its hash is the manifest's modelTopologyHash. */
export async function storeTopologyBlob(store: Store, topology: object): Promise<string> {
  return (await store.blobs.put(new TextEncoder().encode(canonicalJson(topology)))).hash;
}

/**
 * Validates and registers a pushed model as a new version.
 * @example
 * const { version } = await pushModel(store, signing, { app: 'digits', files, actor: 'admin:key_1', maxModelBytes, maxAccuracyDrop: 0.01 });
 */
export async function pushModel(store: Store, signing: SigningKey, input: PushModelInput): Promise<PushModelResult> {
  const pkg: ModelPackage = await readModelFiles(input.files, { maxTotalBytes: input.maxModelBytes });
  const spec = parseModelSpecFile(input.files);
  if (spec) assertSpecFitsModel(spec, pkg);
  let accuracy: VariantHoldoutReport | null = null;
  let encodings: VariantEncoding[] = ['fp32', 'fp16', 'int8'];
  const refusedVariants: VariantEncoding[] = [];
  if (input.holdout) {
    const holdout = readHoldout(input.holdout);
    accuracy = await checkVariantHoldout(pkg, deriveVariants(pkg), holdout, {
      maxAccuracyDrop: input.maxAccuracyDrop,
      output: spec?.output,
    });
    for (const v of accuracy.perVariant) if (!v.accepted && v.encoding !== 'fp32') refusedVariants.push(v.encoding);
    encodings = encodings.filter((e) => !refusedVariants.includes(e));
  }
  const variants = await storeVariantBlobs(store, pkg.weightSpecs, pkg.weights, encodings);
  const topologyHash = await storeTopologyBlob(store, pkg.topology);
  const specRef = spec ? await storeModelSpec(store, spec) : null;
  const metrics: JsonObject = { params: pkg.totalParams };
  if (accuracy) {
    // Kept so a task can evaluate its rounds on the same holdout (plan.evaluation.holdout: 'model').
    metrics[HOLDOUT_BLOB_METRIC] = (await store.blobs.put(input.holdout!)).hash;
    metrics.holdoutCount = accuracy.count;
    if (accuracy.metric === 'meanAbsoluteError') {
      metrics.holdoutMeanAbsoluteError = accuracy.fp32MeanAbsoluteError;
      for (const v of accuracy.perVariant) metrics[`holdoutMeanAbsoluteError_${v.encoding}`] = v.meanAbsoluteError;
    } else {
      metrics.holdoutAccuracy = accuracy.fp32Accuracy;
      for (const v of accuracy.perVariant) metrics[`holdoutAccuracy_${v.encoding}`] = v.accuracy;
    }
  }
  const latest = await store.latestModelVersion(input.app);
  const version = await store.createModelVersion({
    app: input.app,
    parentVersion: latest?.version ?? null,
    source: 'push',
    metrics,
    topology: {
      ...(pkg.topology as JsonObject),
      topologyHash,
      ...(specRef ? { [MODEL_SPEC_TOPOLOGY_KEY]: { ...specRef } } : {}),
    },
    weightSpecs: pkg.weightSpecs,
    inputSpec: pkg.inputSpec,
    variants,
    stage: 'candidate',
    actor: input.actor,
  });
  await store.appendAudit({
    actor: input.actor,
    action: 'model.push',
    target: `${input.app}@${version.version}`,
    details: {
      params: pkg.totalParams,
      variants: variants.map((v) => v.encoding),
      refusedVariants,
      modelSpec: specRef?.hash ?? null,
      output: spec?.output.kind ?? null,
    },
  });
  const final =
    input.stage && input.stage !== 'candidate'
      ? await changeStage(store, signing, {
          app: input.app,
          version: version.version,
          stage: input.stage,
          actor: input.actor,
          reason: 'set at push',
        })
      : version;
  return { version: final, accuracy, refusedVariants };
}

/** The manifest body for a version (without generation; the store allocates it). */
export function manifestFor(version: ModelVersion, generation: number): Manifest {
  const topology = version.topology as JsonObject;
  const modelSpec = modelSpecRefOf(version);
  return {
    protocolVersion: PROTOCOL_VERSION,
    app: version.app,
    version: version.version,
    generation,
    createdAt: new Date().toISOString(),
    modelTopologyHash: String(topology.topologyHash),
    inputSpec: version.inputSpec as Manifest['inputSpec'],
    ...(version.labels ? { labels: version.labels } : {}),
    ...(modelSpec ? { modelSpec } : {}),
    variants: version.variants.map((v) => ({
      encoding: v.encoding as VariantEncoding,
      totalBytes: v.totalBytes,
      sha256: v.sha256,
      shards: v.shards,
    })),
  };
}

/** Signs and stores a new manifest generation pointing at `version`. */
export async function publishManifest(store: StoreOps, signing: SigningKey, version: ModelVersion) {
  return store.publishManifest({
    app: version.app,
    version: version.version,
    sign: async (generation) => await signManifest(manifestFor(version, generation), signing.privateKey, signing.keyId),
  });
}

/**
 * Moves a version to a stage, audited. Promoting to production archives the
 * previous production version and publishes a manifest for the new one.
 * Takes a transaction's `tx` too, so a rollout can move stages and publish
 * its manifests in one commit (rollouts/service.ts).
 */
export async function changeStage(
  store: StoreOps,
  signing: SigningKey,
  input: { app: string; version: number; stage: ModelStage; actor: string; reason?: string },
): Promise<ModelVersion> {
  const target = await store.getModelVersion(input.app, input.version);
  if (!target) throw new ApiError('not_found', `model ${input.app} has no version ${input.version}`);
  if (target.stage === input.stage) return target;
  if (input.stage === 'production') {
    for (const prod of await store.listModelVersions(input.app, { stage: 'production' })) {
      await store.setStage(input.app, prod.version, {
        to: 'archived',
        actor: input.actor,
        reason: `replaced by version ${input.version}`,
      });
    }
  }
  await store.setStage(input.app, input.version, { to: input.stage, actor: input.actor, reason: input.reason ?? null });
  const updated = (await store.getModelVersion(input.app, input.version))!;
  if (input.stage === 'production') await publishManifest(store, signing, updated);
  await store.appendAudit({
    actor: input.actor,
    action: 'model.stage',
    target: `${input.app}@${input.version}`,
    details: { from: target.stage, to: input.stage, reason: input.reason ?? null },
  });
  return updated;
}
