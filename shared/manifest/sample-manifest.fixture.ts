/** A valid manifest for tests (no real shards behind its hashes). */
import type { Manifest } from './schema.ts';

const h = (c: string) => c.repeat(64);
/** A fresh copy on every call, so tests may mutate it. */
export const sampleManifest = (): Manifest => ({
  protocolVersion: 1,
  app: 'digits',
  version: 3,
  generation: 7,
  createdAt: '2025-02-03T04:05:06.000Z',
  modelTopologyHash: h('a'),
  inputSpec: { shape: [null, 28, 28, 1], dtype: 'float32' },
  labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  variants: [
    {
      encoding: 'fp32',
      totalBytes: 300,
      sha256: h('b'),
      shards: [
        { hash: h('c'), size: 100 },
        { hash: h('d'), size: 200 },
      ],
    },
    { encoding: 'int8', totalBytes: 80, sha256: h('e'), shards: [{ hash: h('f'), size: 80 }] },
  ],
  rollout: { id: 'ro-1', cohort: 'canary' },
});
