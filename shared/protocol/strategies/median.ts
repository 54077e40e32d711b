/**
 * Coordinate-wise median (Yin et al. 2018), applied as x ← x + Δ. It needs
 * every update at close and ignores example weights (a weighted order
 * statistic would hand the median to a device lying about its count).
 */
import { z } from 'zod';
import { defineStrategy } from './descriptor.ts';

/** Why an order statistic over the updates runs without central DP or secure aggregation. */
export const ROBUST_LIMITS = {
  centralDp: { supported: false, why: 'its sensitivity is not clipNorm' },
  secureAggregation: { supported: false, why: 'it needs every update in the clear, not their masked sum' },
} as const;

export const median = defineStrategy({
  name: 'median',
  summary: 'coordinate-wise median of the deltas (Yin et al. 2018)',
  options: z.strictObject({}),
  aggregate: 'robust',
  optimizerSlots: [],
  ...ROBUST_LIMITS,
  deviceWeightBounding: false,
});
