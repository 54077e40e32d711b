import { describe, expect, it } from 'vitest';
import { TaskPlanSchema } from '../plan.ts';
import {
  boundsDeviceWeights,
  STRATEGIES,
  STRATEGY_DEFAULTS,
  STRATEGY_NAMES,
  strategiesSupporting,
  strategyDescriptor,
} from './index.ts';

// One behaviour suite over the registry: what holds for every strategy a plan may name.
describe.each(STRATEGIES.map((d) => [d.name, d] as const))('strategy %s', (name, d) => {
  it('parses with nothing given to its documented defaults, and parses them back to themselves', () => {
    const defaults = d.options.parse({});
    expect(defaults).toEqual(STRATEGY_DEFAULTS[name]);
    expect(d.options.parse(defaults)).toEqual(defaults);
    for (const value of Object.values(defaults)) expect(Number.isFinite(value)).toBe(true);
  });

  it('round-trips through the plan: defaults filled once, the parsed plan parses to itself', () => {
    const plan = TaskPlanSchema.parse({ population: 50, clipNorm: 1.5, strategy: { name } });
    expect(plan.strategy).toEqual({ name, ...STRATEGY_DEFAULTS[name], ...d.planDefaults?.({ clipNorm: 1.5 }) });
    expect(TaskPlanSchema.parse(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
  });

  it('refuses an option of another strategy, naming who reads it', () => {
    const foreign = STRATEGIES.flatMap((other) => Object.keys(other.options.shape)).find(
      (key) => !(key in d.options.shape),
    )!;
    const r = TaskPlanSchema.safeParse({ population: 50, strategy: { name, [foreign]: 0.5 } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].path).toEqual(['strategy', foreign]);
    expect(r.error?.issues[0].message).toMatch(
      new RegExp(`${foreign} does not apply to strategy "${name}" \\(it is read by `),
    );
  });

  it('is accepted or refused with central noise as its descriptor says, with the reason it gives', () => {
    const r = TaskPlanSchema.safeParse({ population: 50, noiseMultiplier: 1, strategy: { name } });
    expect(r.success).toBe(d.centralDp.supported);
    if (!d.centralDp.supported) {
      expect(r.error?.issues[0].path).toEqual(['strategy', 'name']);
      expect(r.error?.issues[0].message).toContain(
        `strategy "${name}" cannot take central noise (noiseMultiplier 1): ${d.centralDp.why}`,
      );
      expect(r.error?.issues[0].message).toContain(`use one of ${strategiesSupporting('centralDp').join(', ')}`);
    }
  });

  it('bounds device weights as its descriptor says, never under central DP', () => {
    expect(boundsDeviceWeights({ strategy: { name }, noiseMultiplier: 0 })).toBe(d.deviceWeightBounding);
    expect(boundsDeviceWeights({ strategy: { name }, noiseMultiplier: 1 })).toBe(false);
    // Only a mean weights updates by their examples, so only a mean bounds those weights.
    if (d.deviceWeightBounding) expect(d.aggregate).toBe('weighted-mean');
  });

  it('keeps optimizer state only as a mean (robust aggregates take a plain step)', () => {
    if (d.aggregate === 'robust') expect(d.optimizerSlots).toEqual([]);
    expect(new Set(d.optimizerSlots).size).toBe(d.optimizerSlots.length);
  });
});

describe('the strategy registry', () => {
  it('lists each name once, in the order the help texts use', () => {
    expect(STRATEGY_NAMES).toEqual([
      'fedavg',
      'fedavgm',
      'fedadam',
      'fedyogi',
      'fedadagrad',
      'median',
      'trimmed-mean',
      'norm-bounding',
    ]);
    for (const name of STRATEGY_NAMES) expect(strategyDescriptor(name).name).toBe(name);
    expect(() => strategyDescriptor('krum' as never)).toThrow(/unknown strategy "krum"; use one of fedavg/);
  });

  // The defaults that run (the plan fills them); Flower's for the server optimizers and the trimmed mean.
  it('documents the defaults that run', () => {
    expect(STRATEGY_DEFAULTS).toEqual({
      fedavg: { serverLearningRate: 1 },
      fedavgm: { serverLearningRate: 1, momentum: 0.9 },
      fedadam: { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-9 },
      fedyogi: { serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
      fedadagrad: { serverLearningRate: 0.1, tau: 1e-9 },
      median: {},
      'trimmed-mean': { trimFraction: 0.2 },
      'norm-bounding': {},
    });
  });

  it('says which strategies take central DP and secure aggregation', () => {
    expect(strategiesSupporting('centralDp')).toEqual([
      'fedavg',
      'fedavgm',
      'fedadam',
      'fedyogi',
      'fedadagrad',
      'norm-bounding',
    ]);
    expect(strategiesSupporting('secureAggregation')).toEqual([
      'fedavg',
      'fedavgm',
      'fedadam',
      'fedyogi',
      'fedadagrad',
    ]);
  });
});

describe('the README', () => {
  it('states the defaults that run, strategy by strategy', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    const stated = STRATEGIES.map((d) => {
      const options = Object.entries(STRATEGY_DEFAULTS[d.name])
        .map(([key, value]) => `${key} ${value}`)
        .join(', ');
      return options ? `\`${d.name}\` (${options})` : `\`${d.name}\``;
    }).join(', ');
    expect(readme).toContain(stated);
  });
});
