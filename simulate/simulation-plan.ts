/**
 * The task plan a simulation creates, from its options: the same plan an
 * operator would write for `flock task create`. With `secureAggregation` the
 * plan carries that field (the coordinator then runs every round through the
 * SecAgg+ phases with device-added discrete Gaussian noise) and the
 * conflicts the plan schema refuses (median, compressed encodings, central
 * noise, ...) are reported against the simulator's own flags before anything
 * runs (`secureAggregationFlagConflicts`).
 */
import {
  type SecureAggregation,
  TaskPlanSchema,
  type TaskPlanInput,
  type StrategyName,
  type UpdateEncodingName,
} from '../shared/protocol/index.ts';

/** The plan's `secureAggregation` as written (defaults filled by the coordinator). */
export type SecureAggregationInput = Partial<SecureAggregation>;

export interface SimulationPlanOptions {
  clients: number;
  fraction: number;
  epochs: number;
  batch: number;
  lr: number;
  strategy: StrategyName;
  encoding: UpdateEncodingName;
  topkFraction: number;
  clipNorm?: number;
  noiseMultiplier: number;
  dropout: number;
  stragglers: number;
  secureAggregation?: SecureAggregationInput;
}

// Far above any honest update norm: "no clipping" for a plan that must carry one.
const NO_CLIP = 1e6;

/** Devices selected per round: C x N, at least one. */
export const clientsPerRoundOf = (o: Pick<SimulationPlanOptions, 'clients' | 'fraction'>): number =>
  Math.max(1, Math.round(o.fraction * o.clients));

/**
 * @example simulationPlan({ ...options, secureAggregation: { bits: 16 } }).secureAggregation // { bits: 16, dropoutFraction: 0.1 }
 */
export function simulationPlan(o: SimulationPlanOptions): TaskPlanInput {
  const clientsPerRound = clientsPerRoundOf(o);
  const lossy = o.dropout > 0 || o.stragglers > 0;
  const secure = o.secureAggregation;
  return {
    population: o.clients,
    clientsPerRound,
    overSelection: 1,
    minReports: lossy ? 1 : clientsPerRound,
    localEpochs: o.epochs,
    batchSize: o.batch,
    learningRate: o.lr,
    minExamples: 1,
    updateEncoding:
      o.encoding === 'topk' ? { encoding: 'topk', topkFraction: o.topkFraction } : { encoding: o.encoding },
    clipNorm: o.clipNorm ?? NO_CLIP,
    noiseMultiplier: o.noiseMultiplier,
    strategy: { name: o.strategy },
    ...(secure && {
      // The graph is sized for the dropout the run injects (at least the schema's default 10%).
      secureAggregation: { dropoutFraction: Math.max(0.1, Math.min(0.9, o.dropout)), ...secure },
    }),
  };
}

/** Plan paths the simulator's flags set, to name the flag in a refusal. */
const FLAG_OF_PATH: Record<string, string> = {
  'strategy.name': '--strategy',
  'updateEncoding.encoding': '--encoding',
  noiseMultiplier: '--noise-multiplier',
  adaptiveClipping: '--adaptive-clipping',
  clientsPerRound: '--clients x --fraction',
  'secureAggregation.bits': '--bits',
  'secureAggregation.minSurvivors': '--min-survivors',
  'secureAggregation.neighbours': '--neighbours',
  'secureAggregation.threshold': '--threshold',
  'secureAggregation.noiseMultiplier': '--distributed-noise-multiplier',
};

/**
 * Why the simulation's plan cannot run, one line per conflict naming the flag
 * (the coordinator's own plan schema decides); empty when it can.
 * @example secureAggregationFlagConflicts({ ...o, strategy: 'median', secureAggregation: {} })
 * // ['--strategy: strategy "median" cannot run with secureAggregation: ...']
 */
export function secureAggregationFlagConflicts(o: SimulationPlanOptions): string[] {
  const parsed = TaskPlanSchema.safeParse(simulationPlan(o));
  if (parsed.success) return [];
  return parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return `${FLAG_OF_PATH[path] ?? `plan.${path}`}: ${issue.message}`;
  });
}
