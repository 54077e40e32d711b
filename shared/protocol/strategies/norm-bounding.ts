/**
 * Norm bounding (Sun et al. 2019, "Can you really backdoor federated
 * learning?"): the server scales every update down to at most `normBound`
 * before the weighted mean, applied as x ← x + Δ. `normBound` defaults to the
 * plan's `clipNorm` (the plan fills it), and never exceeds the bound the plan
 * already enforces at upload.
 */
import { z } from 'zod';
import { defineStrategy, MEAN_SUPPORT } from './descriptor.ts';

export const normBounding = defineStrategy({
  name: 'norm-bounding',
  summary: 'weighted mean of the deltas, each scaled down to at most normBound',
  options: z.strictObject({ normBound: z.number().positive().optional() }),
  ...MEAN_SUPPORT,
  secureAggregation: {
    supported: false,
    why: 'it bounds each update at the server, which would see only their masked sum',
  },
  optimizerSlots: [],
  planDefaults: (plan) => ({ normBound: plan.clipNorm }),
});
