/**
 * One simulated client's local training as plain, transferable data, and how
 * to run it against a shared copy of the training set. Used in-process and
 * inside the training worker, so both paths train exactly the same way.
 */
import { ErrorFeedback } from '../shared/codec/index.ts';
import { sizeOfShape, type ModelTopology, type WeightSpec } from '../shared/model/index.ts';
import { trainLocalUpdate, type LocalTrainingInput, type LocalUpdate } from '../client/federated/index.ts';

/** The training set every client slices its examples from (images flat, float32). */
export interface SharedDataset {
  images: Float32Array;
  labels: Uint8Array;
  inputShape: number[];
}

export interface TrainingJob {
  /** Stable per client; keys the client's error-feedback state. */
  clientIndex: number;
  topology: ModelTopology;
  weightSpecs: WeightSpec[];
  globalWeights: Float32Array[];
  /** Indices into the shared dataset of this client's examples. */
  indices: Int32Array;
  plan: LocalTrainingInput['plan'];
  /** Keep a residual per client (top-k / int8 with error feedback). */
  errorFeedback: boolean;
}

/** Copies the client's rows out of the shared set. */
export function gatherExamples(dataset: SharedDataset, indices: Int32Array): { x: Float32Array; y: Uint8Array } {
  const size = sizeOfShape(dataset.inputShape);
  const x = new Float32Array(indices.length * size);
  const y = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const row = indices[i];
    x.set(dataset.images.subarray(row * size, (row + 1) * size), i * size);
    y[i] = dataset.labels[row];
  }
  return { x, y };
}

/**
 * A trainer bound to one dataset, holding error-feedback state per client.
 * @example const update = await createJobRunner(dataset)(job);
 */
export function createJobRunner(dataset: SharedDataset): (job: TrainingJob) => Promise<LocalUpdate> {
  const feedback = new Map<number, ErrorFeedback>();
  return async function runTrainingJob(job) {
    const { x, y } = gatherExamples(dataset, job.indices);
    let errorFeedback: ErrorFeedback | undefined;
    if (job.errorFeedback) {
      errorFeedback = feedback.get(job.clientIndex) ?? new ErrorFeedback();
      feedback.set(job.clientIndex, errorFeedback);
    }
    return trainLocalUpdate({
      topology: job.topology,
      weightSpecs: job.weightSpecs,
      globalWeights: job.globalWeights,
      examples: { x, y, count: job.indices.length, inputShape: dataset.inputShape },
      plan: job.plan,
      errorFeedback,
    });
  };
}
