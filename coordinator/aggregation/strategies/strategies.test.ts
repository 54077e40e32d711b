import { beforeAll, describe, expect, it } from 'vitest';
import { STRATEGIES, TaskPlanSchema } from '../../../shared/protocol/index.ts';
import { createAccumulator } from '../accumulator.ts';
import { selectAggregationBackend } from '../backend.ts';
import { finalizeRound, type RoundAggregate } from '../finalize-round.ts';
import type { WeightSpec } from '../weight-spec.ts';
import { serverStrategy } from './index.ts';

const specs: WeightSpec[] = [
  { name: 'w', shape: [2, 3] },
  { name: 'b', shape: [3] },
];
const updates = [0.1, 0.2, 0.3, 5].map((c) => [new Float32Array(6).fill(c), new Float32Array(3).fill(-c)]);

/** The round's updates collected the way the strategy asks (a sum of example-weighted updates, or all of them). */
function collect(
  aggregate: 'weighted-mean' | 'robust',
  normBound: number | null,
): { round: RoundAggregate; dispose: () => void } {
  if (aggregate === 'robust')
    return {
      round: { kind: 'updates', specs, source: { count: updates.length, read: async (i) => updates[i] } },
      dispose: () => undefined,
    };
  const accumulator = createAccumulator(specs, normBound === null ? {} : { normBound });
  for (const u of updates) accumulator.add(u, 1);
  return { round: { kind: 'mean', accumulator }, dispose: () => accumulator.dispose() };
}

// One behaviour suite over every strategy a plan may name: the server side keeps its descriptor's word.
describe.each(STRATEGIES.map((d) => [d.name, d] as const))('server side of %s', (name, d) => {
  beforeAll(async () => {
    await selectAggregationBackend();
  });

  const plan = TaskPlanSchema.parse({ population: 50, clipNorm: 2, strategy: { name } });

  it('aggregates as its descriptor says and never loosens the round bound', () => {
    const strategy = serverStrategy(plan.strategy);
    expect(strategy.descriptor).toBe(d);
    expect(strategy.aggregate).toBe(d.aggregate);
    if (strategy.aggregate === 'weighted-mean') {
      for (const bound of [0.5, 2, 10]) expect(strategy.updateNormBound(bound)).toBeLessThanOrEqual(bound);
    }
  });

  it('closes a round: weights move, the state keeps exactly its descriptor slots, one step on', async () => {
    const globals = [new Float32Array(6), new Float32Array(3)];
    const strategy = serverStrategy(plan.strategy);
    const { round, dispose } = collect(
      strategy.aggregate,
      strategy.aggregate === 'weighted-mean' ? strategy.updateNormBound(100) : null,
    );
    const first = await finalizeRound({ strategy: plan.strategy, aggregate: round, globals, optimizerState: null });
    const second = await finalizeRound({
      strategy: plan.strategy,
      aggregate: round,
      globals: first.weights,
      optimizerState: first.optimizerState,
    });
    dispose();
    expect(Object.keys(first.optimizerState.slots)).toEqual(d.optimizerSlots);
    expect(second.optimizerState.step).toBe(2);
    expect(first.weights[0][0]).not.toBe(0);
    expect(first.weights[0][0]).toBeGreaterThan(0); // every Δ above points up on w
    expect(first.stats.clients).toBe(updates.length);
  });

  it('refuses the other way of collecting a round', async () => {
    const strategy = serverStrategy(plan.strategy);
    const { round, dispose } = collect(strategy.aggregate === 'robust' ? 'weighted-mean' : 'robust', null);
    await expect(
      finalizeRound({
        strategy: plan.strategy,
        aggregate: round,
        globals: [new Float32Array(6), new Float32Array(3)],
        optimizerState: null,
      }),
    ).rejects.toMatchObject({ code: 'bad-option' });
    dispose();
  });

  it('takes central DP exactly when its descriptor supports it', async () => {
    const strategy = serverStrategy(plan.strategy);
    const { round, dispose } = collect(strategy.aggregate, 1);
    const run = finalizeRound({
      strategy: plan.strategy,
      aggregate: round,
      globals: [new Float32Array(6), new Float32Array(3)],
      optimizerState: null,
      dp: { clipNorm: 1, noiseMultiplier: 0.5, expectedClients: 4 },
    });
    if (d.centralDp.supported) await expect(run).resolves.toMatchObject({ stats: { noiseStddev: 0.5 } });
    else
      await expect(run).rejects.toMatchObject({
        code: 'dp-requires-mean',
        message: expect.stringContaining(d.centralDp.why),
      });
    dispose();
  });
});

describe('robust and bounded strategies', () => {
  it('median ignores the outlier, trimmed mean trims it, norm bounding scales it down', async () => {
    await selectAggregationBackend();
    const globals = [new Float32Array(6), new Float32Array(3)];
    const close = async (strategy: {
      name: 'median' | 'trimmed-mean' | 'norm-bounding';
      trimFraction?: number;
      normBound?: number;
    }) => {
      const s = serverStrategy(strategy);
      const { round, dispose } = collect(s.aggregate, s.aggregate === 'weighted-mean' ? s.updateNormBound(100) : null);
      const out = await finalizeRound({ strategy, aggregate: round, globals, optimizerState: null });
      dispose();
      return out.weights[0][0];
    };
    expect(await close({ name: 'median' })).toBeCloseTo(0.25, 6);
    expect(await close({ name: 'trimmed-mean', trimFraction: 0.25 })).toBeCloseTo(0.25, 6);
    // 5 on 9 coordinates has norm 15 > 1: scaled to 1/3 per coordinate; the others (norm <= 0.9) stay.
    expect(await close({ name: 'norm-bounding', normBound: 1 })).toBeCloseTo((0.1 + 0.2 + 0.3 + 1 / 3) / 4, 5);
  });
});
