import { describe, expect, it } from 'vitest';
import { describeRollout, parseStages } from './rollout.ts';
import { UsageError } from './usage-error.ts';

describe('flock rollout', () => {
  it('parses increasing stage lists and refuses others', () => {
    expect(parseStages('5, 25,50,100')).toEqual([5, 25, 50, 100]);
    expect(() => parseStages('25,5')).toThrow(UsageError);
    expect(() => parseStages('5,abc')).toThrow(UsageError);
  });
  it('describes a rollout with its verdict evidence', () => {
    const text = describeRollout({
      id: 'ro_1',
      app: 'digits',
      candidateVersion: 2,
      controlVersion: 1,
      status: 'rolled_back',
      stages: [5, 25],
      stageIndex: 0,
      canaryPercent: 5,
      stageStartedAt: 't0',
      minStageSeconds: 60,
      minSamples: 10,
      metrics: {},
      canaryGeneration: 3,
      controlGeneration: 2,
      reason: 'accuracy fail',
      lastVerdict: {
        verdict: 'fail',
        at: '2026-12-03T12:00:00.000Z',
        stageIndex: 0,
        percent: 5,
        srm: null,
        reasons: ['accuracy fail: canary 0.6 vs control 0.9'],
        metrics: [
          {
            metric: 'accuracy',
            outcome: 'fail',
            test: 'two-proportion-z',
            canary: 0.6,
            control: 0.9,
            harm: 0.3,
            pValue: 1e-9,
            samples: { canary: 500, control: 9000 },
            threshold: 0.02,
            detail: 'canary 0.6 vs control 0.9',
          },
        ],
        action: { kind: 'rollback', reason: 'accuracy fail: canary 0.6 vs control 0.9' },
      },
      createdAt: 't0',
      updatedAt: 't1',
      endedAt: 't1',
    });
    expect(text).toContain('rolled_back (accuracy fail)');
    expect(text).toMatch(/accuracy\s+fail\s+canary 0.6 vs control 0.9 \[500 canary \/ 9000 control samples\]/);
    expect(text).toContain('next        roll back: accuracy fail: canary 0.6 vs control 0.9');
    expect(text).toContain('exposure    too few devices exposed yet for the sample-ratio check');
  });
});
