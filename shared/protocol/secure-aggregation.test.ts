import { describe, expect, it } from 'vitest';
import { TaskPlanSchema } from './plan.ts';
import { selectedDevices } from './secure-aggregation.ts';

const parse = (plan: object) => TaskPlanSchema.safeParse({ population: 1000, clientsPerRound: 20, ...plan });
const messages = (plan: object) => {
  const r = parse(plan);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('plan.secureAggregation', () => {
  it('fills its defaults, minSurvivors from minReports, and parses to itself', () => {
    const plan = TaskPlanSchema.parse({ population: 1000, clientsPerRound: 20, secureAggregation: { bits: 16 } });
    expect(plan.secureAggregation).toEqual({
      bits: 16,
      colluders: 0,
      dropoutFraction: 0.1,
      noiseMultiplier: 0,
      minSurvivors: 16,
    });
    expect(TaskPlanSchema.parse(plan)).toEqual(plan);
    expect(TaskPlanSchema.parse({ population: 10 }).secureAggregation).toBeUndefined();
  });

  it('counts the over-selected devices against the overflow rule: 20 * 1.3 = 26 selected', () => {
    expect(selectedDevices({ clientsPerRound: 20, overSelection: 1.3 })).toBe(26);
    expect(parse({ secureAggregation: { bits: 27 } }).success).toBe(true); // 26 * 2^26 < 2^31
    expect(messages({ secureAggregation: { bits: 28 } })).toEqual([
      'secureAggregation.bits: secureAggregation.bits 28 could overflow: 26 selected devices * 2^27 >= 2^31; use bits <= 27 or select fewer devices',
    ]);
  });

  it('refuses adaptive clipping, too small cohorts, a threshold without neighbours and an odd sparse degree', () => {
    expect(messages({ secureAggregation: {}, adaptiveClipping: {} }).join('\n')).toMatch(
      /adaptiveClipping reads whether each update was clipped/,
    );
    expect(messages({ clientsPerRound: 2, overSelection: 1, secureAggregation: {} }).join('\n')).toMatch(
      /at least 3 devices per round/,
    );
    expect(messages({ secureAggregation: { threshold: 5 } })).toEqual([
      'secureAggregation.threshold: secureAggregation.threshold needs secureAggregation.neighbours (k) too, or leave both out',
    ]);
    expect(messages({ secureAggregation: { neighbours: 11 } }).join('\n')).toMatch(
      /must be even for a sparse graph \(or 25/,
    );
    expect(parse({ secureAggregation: { neighbours: 12, threshold: 7 } }).success).toBe(true);
    expect(parse({ secureAggregation: { neighbours: 25 } }).success).toBe(true); // the complete graph
  });

  it('allows a privacy budget when the devices add the noise', () => {
    expect(
      parse({ secureAggregation: { noiseMultiplier: 1 }, privacyBudget: { epsilon: 4, delta: 1e-5 } }).success,
    ).toBe(true);
  });
});
