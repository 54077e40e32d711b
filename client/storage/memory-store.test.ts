import { describe, it } from 'vitest';
import { runClientStoreContract } from './contract.ts';
import { createMemoryStore } from './memory-store.ts';

describe('memory ClientStore', () => {
  runClientStoreContract((options) => createMemoryStore(options), it);
});
