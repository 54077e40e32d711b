/**
 * Coordinate-wise trimmed mean (Yin et al. 2018), applied as x ← x + Δ:
 * drops floor(trimFraction · n) values at each end per coordinate. Default
 * trimFraction 0.2, Flower's FedTrimmedAvg beta.
 */
import { z } from 'zod';
import { defineStrategy } from './descriptor.ts';
import { ROBUST_LIMITS } from './median.ts';

export const trimmedMean = defineStrategy({
  name: 'trimmed-mean',
  summary: 'coordinate-wise trimmed mean of the deltas (Yin et al. 2018)',
  options: z.strictObject({
    /** Fraction trimmed from EACH end per coordinate, in [0, 0.5). */
    trimFraction: z.number().min(0).lt(0.5).default(0.2),
  }),
  aggregate: 'robust',
  optimizerSlots: [],
  ...ROBUST_LIMITS,
  deviceWeightBounding: false,
});
