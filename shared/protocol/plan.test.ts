import { describe, expect, it } from 'vitest';
import { StrategySchema, TaskPlanSchema, UpdateEncodingSchema } from './plan.ts';
import { STRATEGY_DEFAULTS } from './strategies/index.ts';

const issuePaths = (r: { success: boolean; error?: { issues: Array<{ path: PropertyKey[] }> } }) =>
  (r.error?.issues ?? []).map((i) => i.path.map(String).join('.'));

describe('TaskPlanSchema', () => {
  it('fills every default from just a population', () => {
    const plan = TaskPlanSchema.parse({ population: 100 });
    expect(plan).toEqual({
      clientsPerRound: 10,
      minReports: 8,
      overSelection: 1.3,
      roundDeadlineSeconds: 600,
      localEpochs: 1,
      batchSize: 32,
      learningRate: 0.05,
      minExamples: 10,
      maxExamplesPerDevice: 10_000,
      maxDeviceWeightFactor: 2,
      updateEncoding: { encoding: 'fp32' },
      clipNorm: 1,
      noiseMultiplier: 0,
      strategy: { name: 'fedavg', serverLearningRate: 1 },
      sampling: { kind: 'first-come' },
      population: 100,
    });
  });

  it('derives minReports from clientsPerRound (80%, at least 1) and keeps an explicit one', () => {
    expect(TaskPlanSchema.parse({ population: 100, clientsPerRound: 1 }).minReports).toBe(1);
    expect(TaskPlanSchema.parse({ population: 100, clientsPerRound: 7 }).minReports).toBe(6);
    expect(TaskPlanSchema.parse({ population: 100, clientsPerRound: 7, minReports: 7 }).minReports).toBe(7);
  });

  it('is idempotent: a parsed plan parses to itself (stored plans and check-in copies re-validate)', () => {
    const inputs = [
      { population: 50 },
      {
        population: 1000,
        clientsPerRound: 20,
        strategy: { name: 'fedadam', beta2: 0.999 },
        noiseMultiplier: 1.1,
        privacyBudget: { epsilon: 8, delta: 1e-5 },
      },
      {
        population: 10,
        strategy: { name: 'norm-bounding' },
        clipNorm: 2.5,
        updateEncoding: { encoding: 'topk', topkFraction: 0.05, topkValues: 'int8' },
      },
      { population: 100, clientsPerRound: 20, noiseMultiplier: 1, adaptiveClipping: {} },
    ];
    for (const input of inputs) {
      const once = TaskPlanSchema.parse(input);
      expect(TaskPlanSchema.parse(JSON.parse(JSON.stringify(once)))).toEqual(once);
    }
  });

  it('refuses minReports above clientsPerRound, naming the field', () => {
    const r = TaskPlanSchema.safeParse({ population: 100, clientsPerRound: 5, minReports: 6 });
    expect(r.success).toBe(false);
    expect(issuePaths(r)).toEqual(['minReports']);
    expect(r.error?.issues[0].message).toMatch(/minReports \(6\) must not exceed clientsPerRound \(5\)/);
  });

  it('bounds the examples one device counts for: maxExamplesPerDevice >= minExamples, maxDeviceWeightFactor >= 1', () => {
    const below = TaskPlanSchema.safeParse({ population: 100, minExamples: 50, maxExamplesPerDevice: 40 });
    expect(issuePaths(below)).toEqual(['maxExamplesPerDevice']);
    expect(below.error?.issues[0].message).toMatch(/maxExamplesPerDevice \(40\) is below minExamples \(50\)/);
    expect(issuePaths(TaskPlanSchema.safeParse({ population: 100, maxDeviceWeightFactor: 0.5 }))).toEqual([
      'maxDeviceWeightFactor',
    ]);
    expect(issuePaths(TaskPlanSchema.safeParse({ population: 100, maxExamplesPerDevice: 2 ** 53 - 1 }))).toEqual([
      'maxExamplesPerDevice',
    ]);
    expect(
      TaskPlanSchema.parse({ population: 100, maxExamplesPerDevice: 500, maxDeviceWeightFactor: 5 }),
    ).toMatchObject({ maxExamplesPerDevice: 500, maxDeviceWeightFactor: 5 });
  });

  it('refuses a sampling rate above 1 and a privacy budget without central noise', () => {
    expect(issuePaths(TaskPlanSchema.safeParse({ population: 3, clientsPerRound: 4 }))).toContain('clientsPerRound');
    const r = TaskPlanSchema.safeParse({ population: 100, privacyBudget: { epsilon: 1, delta: 1e-5 } });
    expect(issuePaths(r)).toEqual(['noiseMultiplier']);
  });

  it('checks ranges: overSelection in [1,3], clipNorm > 0, noise >= 0, integers where counts', () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ overSelection: 0.9 }, 'overSelection'],
      [{ overSelection: 3.5 }, 'overSelection'],
      [{ clipNorm: 0 }, 'clipNorm'],
      [{ noiseMultiplier: -0.1 }, 'noiseMultiplier'],
      [{ localNoiseMultiplier: -1 }, 'localNoiseMultiplier'],
      [{ clientsPerRound: 2.5 }, 'clientsPerRound'],
      [{ batchSize: 0 }, 'batchSize'],
      [{ learningRate: Number.POSITIVE_INFINITY }, 'learningRate'],
      [{ privacyBudget: { epsilon: 1, delta: 1 }, noiseMultiplier: 1 }, 'privacyBudget.delta'],
      [{ adaptiveClipping: { targetQuantile: 1 } }, 'adaptiveClipping.targetQuantile'],
    ];
    for (const [patch, path] of bad) {
      const r = TaskPlanSchema.safeParse({ population: 100, ...patch });
      expect(r.success, JSON.stringify(patch)).toBe(false);
      expect(issuePaths(r), JSON.stringify(patch)).toContain(path);
    }
    expect(TaskPlanSchema.safeParse({ population: 100 }).success).toBe(true);
    expect(TaskPlanSchema.safeParse({}).success).toBe(false);
  });

  it('refuses at creation every combination the aggregator cannot run, naming the conflict', () => {
    const refused: Array<[Record<string, unknown>, string, RegExp]> = [
      [
        { noiseMultiplier: 1, strategy: { name: 'median' } },
        'strategy.name',
        /strategy "median" cannot take central noise/,
      ],
      [
        { noiseMultiplier: 0.5, strategy: { name: 'trimmed-mean' } },
        'strategy.name',
        /strategy "trimmed-mean" cannot take central noise/,
      ],
      [
        { clientsPerRound: 10, noiseMultiplier: 1, adaptiveClipping: {} },
        'adaptiveClipping',
        /needs noiseMultiplier < 0\.1 \* clientsPerRound \(1\)/,
      ],
      [
        { clientsPerRound: 20, noiseMultiplier: 3, adaptiveClipping: {} },
        'adaptiveClipping',
        /raise clientsPerRound above 30/,
      ],
      [{ adaptiveClipping: {} }, 'adaptiveClipping', /runs only with central noise/],
      [{ sampling: { kind: 'poisson', rate: 1 } }, 'sampling.rate', /./],
      [{ sampling: { kind: 'poisson' } }, 'sampling.rate', /./],
      [{ sampling: { kind: 'random' } }, 'sampling.kind', /./],
      [{ sampling: { kind: 'poisson', rate: 0.1 } }, 'sampling.kind', /not implemented/],
    ];
    for (const [patch, path, message] of refused) {
      const r = TaskPlanSchema.safeParse({ population: 100, ...patch });
      expect(r.success, JSON.stringify(patch)).toBe(false);
      expect(issuePaths(r), JSON.stringify(patch)).toContain(path);
      expect(r.error?.issues.map((i) => i.message).join('\n'), JSON.stringify(patch)).toMatch(message);
    }
    // Just inside the limits: accepted.
    expect(
      TaskPlanSchema.safeParse({ population: 100, clientsPerRound: 20, noiseMultiplier: 1.99, adaptiveClipping: {} })
        .success,
    ).toBe(true);
    expect(
      TaskPlanSchema.safeParse({ population: 100, noiseMultiplier: 1, strategy: { name: 'norm-bounding' } }).success,
    ).toBe(true);
    expect(TaskPlanSchema.safeParse({ population: 100, strategy: { name: 'median' } }).success).toBe(true);
  });

  it('is strict: a misspelt option is an error, not silently ignored', () => {
    const r = TaskPlanSchema.safeParse({ population: 100, learningrate: 0.1 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].code).toBe('unrecognized_keys');
  });

  it('fills adaptive clipping with TFF defaults', () => {
    expect(
      TaskPlanSchema.parse({ population: 90, clientsPerRound: 30, noiseMultiplier: 1, adaptiveClipping: {} })
        .adaptiveClipping,
    ).toEqual({
      targetQuantile: 0.5,
      learningRate: 0.2,
    });
  });

  it('defaults norm-bounding normBound to clipNorm, but keeps an explicit one', () => {
    expect(
      TaskPlanSchema.parse({ population: 9, clientsPerRound: 3, clipNorm: 2.5, strategy: { name: 'norm-bounding' } })
        .strategy,
    ).toEqual({
      name: 'norm-bounding',
      normBound: 2.5,
    });
    expect(
      TaskPlanSchema.parse({ population: 9, clientsPerRound: 3, strategy: { name: 'norm-bounding', normBound: 4 } })
        .strategy,
    ).toEqual({
      name: 'norm-bounding',
      normBound: 4,
    });
  });
});

describe('UpdateEncodingSchema', () => {
  it('needs topkFraction in (0, 1] for top-k', () => {
    expect(UpdateEncodingSchema.safeParse({ encoding: 'topk' }).success).toBe(false);
    expect(UpdateEncodingSchema.safeParse({ encoding: 'topk', topkFraction: 0 }).success).toBe(false);
    expect(UpdateEncodingSchema.safeParse({ encoding: 'topk', topkFraction: 1.01 }).success).toBe(false);
    expect(UpdateEncodingSchema.safeParse({ encoding: 'topk', topkFraction: 1 }).success).toBe(true);
    expect(UpdateEncodingSchema.parse({ encoding: 'topk', topkFraction: 0.01, topkValues: 'fp16' })).toEqual({
      encoding: 'topk',
      topkFraction: 0.01,
      topkValues: 'fp16',
    });
  });

  it('refuses top-k options on dense encodings and unknown encodings', () => {
    const r = UpdateEncodingSchema.safeParse({ encoding: 'int8', topkFraction: 0.1 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].message).toMatch(/only to encoding "topk"/);
    expect(UpdateEncodingSchema.safeParse({ encoding: 'int4' }).success).toBe(false);
    expect(UpdateEncodingSchema.safeParse({ encoding: 'int8' }).success).toBe(true);
  });
});

describe('StrategySchema', () => {
  it('fills per-strategy defaults and lets given options win', () => {
    for (const name of Object.keys(STRATEGY_DEFAULTS) as Array<keyof typeof STRATEGY_DEFAULTS>) {
      expect(StrategySchema.parse({ name })).toEqual({ name, ...STRATEGY_DEFAULTS[name] });
    }
    expect(StrategySchema.parse({ name: 'fedyogi', tau: 0.01 })).toEqual({
      ...STRATEGY_DEFAULTS.fedyogi,
      name: 'fedyogi',
      tau: 0.01,
    });
  });

  it('refuses options the strategy does not read, saying which strategies read them', () => {
    const r = StrategySchema.safeParse({ name: 'fedavg', momentum: 0.9 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].path).toEqual(['momentum']);
    expect(r.error?.issues[0].message).toMatch(/read by fedavgm/);
  });

  it('checks option ranges', () => {
    expect(StrategySchema.safeParse({ name: 'trimmed-mean', trimFraction: 0.5 }).success).toBe(false);
    expect(StrategySchema.safeParse({ name: 'fedavgm', momentum: 1 }).success).toBe(false);
    expect(StrategySchema.safeParse({ name: 'fedadam', serverLearningRate: 0 }).success).toBe(false);
    expect(StrategySchema.safeParse({ name: 'krum' }).success).toBe(false);
  });
});
