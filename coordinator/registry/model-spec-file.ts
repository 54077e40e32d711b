/**
 * The model spec (`flock-model.json`) on the registry side: read from a
 * pushed package, validated against the model it travels with (the
 * preprocessing must produce the model's input, the output kind must fit its
 * output layer), stored as a blob, and found again for a version.
 *
 * The blob's address lives in the version's topology record, next to
 * `topologyHash`: round versions copy their parent's topology, so the spec
 * follows the weights from round to round, and the device blob route already
 * lets a device read every hash its app's topology records name.
 */
import { modelSpecBytes, type Shard, verifyModelSpec } from '../../shared/manifest/index.ts';
import { featureShape } from '../../shared/preprocess/index.ts';
import { MODEL_SPEC_FILE, ModelSpecSchema, type ModelSpec } from '../../shared/protocol/index.ts';
import type { JsonObject, ModelVersion, Store } from '../store/index.ts';
import type { ModelPackage } from './model-files.ts';
import { ModelPackageError } from './model-package-error.ts';

/** The key of the version's topology record that holds the spec blob's `{ hash, size }`. */
export const MODEL_SPEC_TOPOLOGY_KEY = 'modelSpec';

const specError = (message: string) => new ModelPackageError('bad_model_spec', `${MODEL_SPEC_FILE}: ${message}`);

/**
 * The parsed spec among a package's files, or null when it has none.
 * @throws ModelPackageError 'bad_model_spec' saying which field is wrong
 *
 * @example
 * const spec = parseModelSpecFile(files); // files: 'model.json', 'weights.bin', 'flock-model.json'
 */
export function parseModelSpecFile(files: ReadonlyMap<string, Uint8Array>): ModelSpec | null {
  const bytes = files.get(MODEL_SPEC_FILE);
  if (!bytes) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw specError(`not UTF-8 JSON (${(error as Error).message})`);
  }
  const parsed = ModelSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw specError(`${issue?.path.join('.') || '(root)'}: ${issue?.message}; see the model spec in the README`);
  }
  return parsed.data;
}

const dims = (shape: readonly (number | null)[]) => `[${shape.map((d) => d ?? 'null').join(', ')}]`;

/**
 * Refuses a spec that cannot drive this model.
 * @throws ModelPackageError 'bad_model_spec'
 */
export function assertSpecFitsModel(spec: ModelSpec, pkg: ModelPackage): void {
  if (spec.preprocess) {
    const want = featureShape(spec.preprocess);
    const have = pkg.inputSpec.shape.slice(1);
    if (have.length !== want.length || have.some((d, i) => d !== want[i])) {
      throw specError(
        `preprocess.input (${spec.preprocess.input.kind}) makes features of shape ${dims(want)} but the model's input is ${dims(pkg.inputSpec.shape)}; make them agree`,
      );
    }
  }
  const units = pkg.outputShape.at(-1) ?? null;
  const output = spec.output;
  const need =
    output.kind === 'binary'
      ? 1
      : output.kind === 'multilabel'
        ? output.labels.length
        : output.kind === 'multiclass'
          ? (output.labels?.length ?? null)
          : null;
  if (need !== null && units !== need) {
    throw specError(
      `output.kind '${output.kind}' needs ${need} output unit${need === 1 ? '' : 's'}${output.kind === 'binary' ? ' (one sigmoid)' : ' (one per label)'} but the model's output is ${dims(pkg.outputShape)}`,
    );
  }
  if (spec.frozenLayers) {
    const names = new Set(pkg.weightSpecs.map((w) => w.name.split('/')[0]));
    const unknown = spec.frozenLayers.filter((l) => !names.has(l));
    if (unknown.length > 0)
      throw specError(
        `frozenLayers names ${unknown.map((l) => `"${l}"`).join(', ')}, which ${unknown.length > 1 ? 'are' : 'is'} no layer with weights in model.json (layers: ${[...names].join(', ')})`,
      );
  }
}

/** Stores the spec's canonical bytes; the returned reference goes into the topology record and the manifest. */
export async function storeModelSpec(store: Store, spec: ModelSpec): Promise<Shard> {
  const bytes = modelSpecBytes(spec);
  const blob = await store.blobs.put(bytes);
  return { hash: blob.hash, size: bytes.byteLength };
}

/** The spec blob a version's topology record names, or null for a version pushed without one. */
export function modelSpecRefOf(version: Pick<ModelVersion, 'topology'>): Shard | null {
  const ref = (version.topology as JsonObject)[MODEL_SPEC_TOPOLOGY_KEY] as Shard | undefined;
  return ref && typeof ref === 'object' && typeof ref.hash === 'string' ? { hash: ref.hash, size: ref.size } : null;
}

/** The tfjs topology of a version's record, without the registry's own keys (tfjs must not see them). */
export function tfjsTopologyOf(version: Pick<ModelVersion, 'topology'>): JsonObject {
  const { topologyHash: _hash, [MODEL_SPEC_TOPOLOGY_KEY]: _spec, ...topology } = version.topology as JsonObject;
  return topology;
}

/**
 * The version's spec read back from the blob store (checked against its hash), or null when it has none.
 *
 * @example
 * const spec = await loadModelSpec(store, version); // spec?.output.kind === 'regression'
 */
export async function loadModelSpec(store: Store, version: Pick<ModelVersion, 'topology'>): Promise<ModelSpec | null> {
  const ref = modelSpecRefOf(version);
  if (!ref) return null;
  const bytes = await store.blobs.get(ref.hash);
  if (!bytes) throw new ModelPackageError('bad_model_spec', `the stored model spec ${ref.hash} is missing`);
  return verifyModelSpec(bytes, ref);
}
