import { describe, expect, it } from 'vitest';
import { ModelVersionViewSchema, StageTransitionSchema } from './models.ts';

const pushed = {
  app: 'digits',
  version: 1,
  parentVersion: null,
  createdAt: '2025-01-01T00:00:00.000Z',
  source: 'push',
  roundId: null,
  clients: null,
  clipNorm: null,
  noiseMultiplier: null,
  epsilon: null,
  metrics: { holdoutAccuracy: 0.97 },
  stage: 'production',
  variants: [{ encoding: 'fp32', totalBytes: 4096, sha256: 'cd'.repeat(32), holdoutAccuracy: 0.97 }],
};

describe('model registry views', () => {
  it('accepts pushed and trained versions with their lineage', () => {
    expect(ModelVersionViewSchema.parse(pushed)).toEqual(pushed);
    const trained = {
      ...pushed,
      version: 2,
      parentVersion: 1,
      source: 'round',
      roundId: 'r9',
      clients: 12,
      clipNorm: 1,
      noiseMultiplier: 1.1,
      epsilon: 2.3,
      stage: 'candidate',
    };
    expect(ModelVersionViewSchema.parse(trained)).toEqual(trained);
  });

  it('refuses unknown stages and sources, missing lineage fields and non-numeric metrics', () => {
    expect(ModelVersionViewSchema.safeParse({ ...pushed, stage: 'staging' }).success).toBe(false);
    expect(ModelVersionViewSchema.safeParse({ ...pushed, source: 'upload' }).success).toBe(false);
    const { parentVersion: _omit, ...noParent } = pushed;
    expect(ModelVersionViewSchema.safeParse(noParent).success).toBe(false);
    expect(ModelVersionViewSchema.safeParse({ ...pushed, metrics: { acc: 'high' } }).success).toBe(false);
  });

  it('validates stage transitions', () => {
    expect(StageTransitionSchema.parse({ stage: 'canary' })).toEqual({ stage: 'canary' });
    expect(StageTransitionSchema.safeParse({ stage: 'canary', reason: 'x'.repeat(1001) }).success).toBe(false);
    expect(StageTransitionSchema.safeParse({ stage: 'live' }).success).toBe(false);
    expect(StageTransitionSchema.safeParse({ stage: 'canary', force: true }).success).toBe(false);
  });
});
