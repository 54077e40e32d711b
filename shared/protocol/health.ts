/**
 * What `GET /healthz` answers: the coordinator's route declares it, and
 * `flock status` reads it (without loading the coordinator).
 */
import { z } from 'zod';

export const HealthSchema = z.object({
  status: z.literal('ok'),
  version: z.string(),
  protocolVersion: z.number(),
  aggregationBackend: z.string().nullable(),
  /** What the aggregation backend computes on, as checked at start (e.g. 'NVIDIA H200 (CUDA)', 'CPU (wasm, SIMD, 1 thread)'). */
  aggregationDevice: z.string().nullable().optional(),
  store: z.string(),
});
export type Health = z.output<typeof HealthSchema>;
