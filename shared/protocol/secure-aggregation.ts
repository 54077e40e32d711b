/**
 * The plan's `secureAggregation` field: run the task's rounds through SecAgg+
 * (shared/secagg) with distributed discrete Gaussian noise added by the
 * devices, so the coordinator sees only the sum of the survivors' updates.
 *
 * What that rules out is refused at task creation, each with its reason
 * (`secureAggregationConflicts`): strategies that need every update in the
 * clear (median, trimmed mean, server-side norm bounding), central noise on
 * top (the noise comes from the devices: set `secureAggregation.noiseMultiplier`),
 * adaptive clipping (it reads each update's clipped bit), compressed upload
 * encodings (SecAgg uploads its own integers), and bit widths whose sum over
 * the round's selection could overflow 32 bits.
 *
 * @example
 * TaskPlanSchema.parse({ population: 1000, clientsPerRound: 100,
 *   secureAggregation: { bits: 20, noiseMultiplier: 1, minSurvivors: 80 },
 *   privacyBudget: { epsilon: 8, delta: 1e-5 } });
 */
import { z } from 'zod';
import { strategiesSupporting, strategyDescriptor, type StrategyName } from './strategies/index.ts';

export const SecureAggregationSchema = z.strictObject({
  /** k: neighbours per device (SecAgg+); absent: the sparsest safe graph for the cohort (planSecAgg). */
  neighbours: z.int().min(2).max(255).optional(),
  /** t: shares that recover a secret; needs neighbours, and t > (k + colluders) / 2. Absent: the safe minimum. */
  threshold: z.int().min(2).max(255).optional(),
  /** c: colluding devices the threshold is sized against. */
  colluders: z.int().min(0).max(254).default(0),
  /** Signed bits per device value; (devices selected) * 2^(bits-1) must stay < 2^31. */
  bits: z.int().min(2).max(31).default(20),
  /**
   * Fewest survivors a round may unmask (a round with fewer aborts, even
   * above minReports); the devices' noise is calibrated to their sum. Default: minReports.
   */
  minSurvivors: z.int().min(2).optional(),
  /** Dropout between sharing keys and unmasking that the graph is sized for. */
  dropoutFraction: z.number().min(0).lt(1).default(0.1),
  /**
   * Distributed DP: each device adds discrete Gaussian noise, sized so that
   * the noise of minSurvivors - 1 devices alone has stddev noiseMultiplier x
   * one device's L2 sensitivity (shared/secagg/ddg.ts). 0: no noise.
   */
  noiseMultiplier: z.number().min(0).default(0),
});
export type SecureAggregation = z.output<typeof SecureAggregationSchema>;

/** The plan fields the conflicts depend on (a parsed plan before its transform). */
export interface SecureAggregationPlanView {
  secureAggregation?: SecureAggregation;
  strategy: { name: StrategyName };
  noiseMultiplier: number;
  adaptiveClipping?: unknown;
  updateEncoding: { encoding: string };
  clientsPerRound: number;
  overSelection: number;
}

export interface PlanConflict {
  path: (string | number)[];
  message: string;
}

/** Most devices a round selects: what the coordinator's selection limit is (coordinator/rounds/pace.ts). */
export function selectedDevices(plan: { clientsPerRound: number; overSelection: number }): number {
  return Math.max(plan.clientsPerRound, Math.ceil(plan.clientsPerRound * plan.overSelection));
}

/** Every reason the plan cannot run under secure aggregation; empty when it can (or when it does not ask for it). */
export function secureAggregationConflicts(p: SecureAggregationPlanView): PlanConflict[] {
  const s = p.secureAggregation;
  if (!s) return [];
  const out: PlanConflict[] = [];
  const support = strategyDescriptor(p.strategy.name).secureAggregation;
  if (!support.supported)
    out.push({
      path: ['strategy', 'name'],
      message: `strategy "${p.strategy.name}" cannot run with secureAggregation: ${support.why}; use one of ${strategiesSupporting('secureAggregation').join(', ')} (each device clips its update to clipNorm), or drop secureAggregation`,
    });
  if (p.noiseMultiplier > 0)
    out.push({
      path: ['noiseMultiplier'],
      message: `central noise (noiseMultiplier ${p.noiseMultiplier}) does not combine with secureAggregation: the devices add the noise; set secureAggregation.noiseMultiplier to ${p.noiseMultiplier} and noiseMultiplier to 0`,
    });
  if (p.adaptiveClipping !== undefined)
    out.push({
      path: ['adaptiveClipping'],
      message:
        'adaptiveClipping reads whether each update was clipped, which secureAggregation hides: drop adaptiveClipping',
    });
  if (p.updateEncoding.encoding !== 'fp32')
    out.push({
      path: ['updateEncoding', 'encoding'],
      message: `updateEncoding "${p.updateEncoding.encoding}" does not apply under secureAggregation, which uploads its own ${s.bits}-bit integers (a sparse or per-update quantised upload cannot be masked and summed): use { encoding: "fp32" }`,
    });
  const selected = selectedDevices(p);
  if (selected < 3)
    out.push({
      path: ['clientsPerRound'],
      message: `secureAggregation needs at least 3 devices per round, the plan selects ${selected}: raise clientsPerRound`,
    });
  if (selected * 2 ** (s.bits - 1) >= 2 ** 31) {
    const largest = Math.ceil(32 - Math.log2(selected)) - 1;
    out.push({
      path: ['secureAggregation', 'bits'],
      message: `secureAggregation.bits ${s.bits} could overflow: ${selected} selected devices * 2^${s.bits - 1} >= 2^31; use bits <= ${largest} or select fewer devices`,
    });
  }
  if (s.minSurvivors !== undefined && s.minSurvivors > selected)
    out.push({
      path: ['secureAggregation', 'minSurvivors'],
      message: `secureAggregation.minSurvivors (${s.minSurvivors}) exceeds the ${selected} devices a round selects`,
    });
  if (s.threshold !== undefined && s.neighbours === undefined)
    out.push({
      path: ['secureAggregation', 'threshold'],
      message: 'secureAggregation.threshold needs secureAggregation.neighbours (k) too, or leave both out',
    });
  if (s.neighbours !== undefined) {
    const k = s.neighbours;
    if (k > selected - 1)
      out.push({
        path: ['secureAggregation', 'neighbours'],
        message: `secureAggregation.neighbours (${k}) exceeds the ${selected - 1} other devices of a round`,
      });
    else if (k !== selected - 1 && k % 2 !== 0)
      out.push({
        path: ['secureAggregation', 'neighbours'],
        message: `secureAggregation.neighbours must be even for a sparse graph (or ${selected - 1}, the complete graph), got ${k}`,
      });
    const t = s.threshold ?? Math.floor((k + s.colluders) / 2) + 1;
    if (t > k || 2 * t <= k + s.colluders)
      out.push({
        path: ['secureAggregation', 'threshold'],
        message: `secureAggregation.threshold ${t} must be in ((neighbours + colluders) / 2, neighbours] = (${(k + s.colluders) / 2}, ${k}], or a coordinator could learn both shares of a device`,
      });
  }
  return out;
}
