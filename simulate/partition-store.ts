/**
 * A simulated device's `ClientStore`: the SDK's in-memory store for
 * everything a device keeps (identity, verified model, pointer, outbox), with
 * its examples answered from the client's partition of the shared training
 * set instead of recorded one by one. A round's `listExamples` copies the
 * client's rows out then, so N clients hold one copy of the data between
 * rounds, and enrolling a client costs no per-example writes (the memory
 * store re-sorts on every `addExample`, which is quadratic in a partition of
 * thousands).
 *
 * The examples are read-only: a simulated client's data is its partition.
 */
import { ClientStoreError, createMemoryStore, type ClientStore, type StoredExample } from '../client/storage/index.ts';
import { sizeOfShape } from '../shared/model/index.ts';
import type { SharedDataset } from './shared-dataset.ts';

/**
 * @example
 * const store = partitionStore('sim', dataset, partition[3]);
 * await store.countExamples('sim') // partition[3].length
 */
export function partitionStore(app: string, dataset: SharedDataset, indices: Int32Array): ClientStore {
  const inner = createMemoryStore();
  const size = sizeOfShape(dataset.inputShape);
  const readOnly = (): never => {
    throw new ClientStoreError(
      'bad_input',
      "a simulated device's examples are its partition of the training set; they cannot be added or cleared",
    );
  };
  const rows = (forApp: string): StoredExample[] =>
    forApp !== app
      ? []
      : Array.from(indices, (row, i) => ({
          id: i + 1,
          app,
          input: dataset.images.slice(row * size, (row + 1) * size),
          label: dataset.labels[row],
          createdAt: 0,
        }));
  return {
    ...inner,
    addExample: async () => readOnly(),
    clearExamples: async () => readOnly(),
    listExamples: async (forApp) => rows(forApp),
    countExamples: async (forApp) => (forApp === app ? indices.length : 0),
  };
}
