/**
 * The simulation's training set as one flat copy (images float32, labels
 * uint8), and how to read one client's rows out of it. The clients' device
 * stores (partition-store.ts) and the central baseline both read it; nothing
 * is copied per client until a round asks for its examples.
 */
import { sizeOfShape } from '../shared/model/index.ts';

/** The training set every client slices its examples from (images flat, float32). */
export interface SharedDataset {
  images: Float32Array;
  labels: Uint8Array;
  inputShape: number[];
}

/**
 * Copies the rows `indices` out of the shared set.
 * @example const { x, y } = gatherExamples(dataset, partition[3]);
 */
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
