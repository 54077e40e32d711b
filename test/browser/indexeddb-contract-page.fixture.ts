/**
 * What indexeddb-store.test.ts bundles for the page (global `StoreContract`):
 * the client-store contract suite (client/storage/contract.ts) over the real
 * IndexedDB store, one case at a time, each on a fresh database.
 */
import { runClientStoreContract } from '../../client/storage/contract.ts';
import { openIndexedDbStore } from '../../client/storage/indexeddb-store.ts';

let databases = 0;

/** Runs the named contract case against IndexedDB; resolves null when it passed, else the failure's message. */
export async function runCase(name: string): Promise<string | null> {
  let found: (() => Promise<void>) | null = null;
  runClientStoreContract(
    (options) => openIndexedDbStore(`flock-contract-${Date.now()}-${databases++}`, options),
    (caseName, fn) => {
      if (caseName === name) found = fn;
    },
  );
  const run = found as (() => Promise<void>) | null;
  if (run === null) return `no contract case is named "${name}"`;
  try {
    await run();
    return null;
  } catch (error) {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
}
