/**
 * The task plan: everything a round needs to know about selection, local
 * training, update encoding, differential privacy and server aggregation.
 *
 * Operators write plans, so the schema is strict (a misspelt key is an error,
 * not a silently ignored option) and fills sensible defaults. Parsing is
 * idempotent: a parsed plan parses to itself, so the coordinator can store the
 * parsed plan and clients can re-validate the copy they receive at check-in.
 */
import { z } from 'zod';
import { UpdateEncodingNameSchema, WeightEncodingSchema } from './fields.ts';

const positive = () => z.number().positive();

/** How updates are encoded for upload; top-k needs the fraction of entries kept. */
export const UpdateEncodingSchema = z
  .strictObject({
    encoding: UpdateEncodingNameSchema,
    /** Fraction of entries kept by top-k, in (0, 1]. */
    topkFraction: z.number().gt(0).max(1).optional(),
    /** Encoding of the kept top-k values; fp32 when absent. */
    topkValues: WeightEncodingSchema.optional(),
  })
  .superRefine((e, ctx) => {
    if (e.encoding === 'topk' && e.topkFraction === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['topkFraction'],
        message: 'encoding "topk" needs topkFraction in (0, 1], e.g. 0.01 to keep 1% of entries',
      });
    }
    if (e.encoding !== 'topk') {
      for (const key of ['topkFraction', 'topkValues'] as const) {
        if (e[key] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `${key} applies only to encoding "topk", not "${e.encoding}"`,
          });
        }
      }
    }
  });
export type UpdateEncoding = z.output<typeof UpdateEncodingSchema>;

export const STRATEGY_NAMES = [
  'fedavg',
  'fedavgm',
  'fedadam',
  'fedyogi',
  'fedadagrad',
  'median',
  'trimmed-mean',
  'norm-bounding',
] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

type StrategyOption = 'serverLearningRate' | 'momentum' | 'beta1' | 'beta2' | 'tau' | 'trimFraction' | 'normBound';

/**
 * Defaults per strategy, after Flower's `flwr.server.strategy` (FedAdam,
 * FedYogi, FedAdagrad, FedTrimmedAvg) and Hsu et al. 2019 for FedAvgM.
 * norm-bounding's `normBound` defaults to the plan's `clipNorm` (filled by the plan).
 */
export const STRATEGY_DEFAULTS: Record<StrategyName, Partial<Record<StrategyOption, number>>> = {
  fedavg: { serverLearningRate: 1 },
  fedavgm: { serverLearningRate: 1, momentum: 0.9 },
  fedadam: { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-9 },
  fedyogi: { serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
  fedadagrad: { serverLearningRate: 0.1, tau: 1e-9 },
  median: {},
  'trimmed-mean': { trimFraction: 0.2 },
  'norm-bounding': {},
};

/** Which options each strategy reads; any other option is a mistake worth reporting. */
const STRATEGY_OPTIONS: Record<StrategyName, readonly StrategyOption[]> = {
  fedavg: ['serverLearningRate'],
  fedavgm: ['serverLearningRate', 'momentum'],
  fedadam: ['serverLearningRate', 'beta1', 'beta2', 'tau'],
  fedyogi: ['serverLearningRate', 'beta1', 'beta2', 'tau'],
  fedadagrad: ['serverLearningRate', 'tau'],
  median: [],
  'trimmed-mean': ['trimFraction'],
  'norm-bounding': ['normBound'],
};

/** Server-side aggregation strategy and its options; missing options get per-strategy defaults. */
export const StrategySchema = z
  .strictObject({
    name: z.enum(STRATEGY_NAMES),
    serverLearningRate: positive().optional(),
    momentum: z.number().min(0).lt(1).optional(),
    beta1: z.number().min(0).lt(1).optional(),
    beta2: z.number().min(0).lt(1).optional(),
    tau: positive().optional(),
    /** Fraction trimmed from EACH end per coordinate, in [0, 0.5). */
    trimFraction: z.number().min(0).lt(0.5).optional(),
    normBound: positive().optional(),
  })
  .superRefine((s, ctx) => {
    const allowed = STRATEGY_OPTIONS[s.name];
    for (const key of Object.keys(s) as Array<keyof typeof s>) {
      if (key === 'name' || s[key] === undefined || allowed.includes(key)) continue;
      const users = STRATEGY_NAMES.filter((n) => STRATEGY_OPTIONS[n].includes(key));
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `${key} does not apply to strategy "${s.name}" (it is read by ${users.join(', ')})`,
      });
    }
  })
  .transform((s) => {
    const out: typeof s = { ...STRATEGY_DEFAULTS[s.name], name: s.name };
    for (const key of STRATEGY_OPTIONS[s.name]) if (s[key] !== undefined) out[key] = s[key];
    return out;
  });
export type Strategy = z.output<typeof StrategySchema>;

/** Adaptive clipping (Andrew et al. 2021); defaults are TFF's. */
export const AdaptiveClippingSchema = z.strictObject({
  targetQuantile: z.number().gt(0).lt(1).default(0.5),
  learningRate: positive().default(0.2),
});
export type AdaptiveClipping = z.output<typeof AdaptiveClippingSchema>;

/**
 * How a round picks its devices among those that check in.
 * - `first-come` (default): the first devices to check in fill the round. No
 *   amplification by subsampling is earned, so the accountant charges every
 *   round at sampling rate q = 1.
 * - `poisson`: each device's first check-in of a round draws "in" with
 *   probability `rate` (crypto randomness, recorded per round and device, so a
 *   re-check-in cannot re-roll). Only these rounds are charged at q = `rate`;
 *   they close at their deadline, never early at quorum, and select every
 *   sampled device (a cap or an early close would let one device's arrival
 *   push another's report out, which the subsampling analysis does not cover).
 */
export const SamplingSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('first-come') }),
  z.strictObject({
    kind: z.literal('poisson'),
    /** Probability in (0, 1) that one checking-in device is included in a round. */
    rate: z.number().gt(0).lt(1),
  }),
]);
export type Sampling = z.output<typeof SamplingSchema>;

/**
 * Adaptive clipping's clipped-count noise is 0.05 * clientsPerRound (TFF's
 * default, coordinator/aggregation/central-dp.ts), and it must exceed z / 2:
 * so z must stay below 0.1 * clientsPerRound.
 */
const ADAPTIVE_CLIP_MAX_Z_PER_CLIENT = 0.1;

/** The (epsilon, delta) a task may spend in total. */
export const PrivacyBudgetSchema = z.strictObject({
  epsilon: positive(),
  delta: z.number().gt(0).lt(1),
});
export type PrivacyBudget = z.output<typeof PrivacyBudgetSchema>;

/**
 * A task plan. Only `population` is required; everything else has a default.
 *
 * @example
 * const plan = TaskPlanSchema.parse({ population: 1000, clientsPerRound: 20, noiseMultiplier: 1.1,
 *   privacyBudget: { epsilon: 8, delta: 1e-5 } });
 * plan.minReports // 16 (80% of clientsPerRound)
 * plan.strategy   // { name: 'fedavg', serverLearningRate: 1 }
 */
export const TaskPlanSchema = z
  .strictObject({
    /** Reports wanted per round (the goal count before over-selection). */
    clientsPerRound: z.int().min(1).max(100_000).default(10),
    /** Reports without which the round fails; defaults to 80% of clientsPerRound. */
    minReports: z.int().min(1).optional(),
    /** Devices selected per round = ceil(clientsPerRound * overSelection) (Bonawitz et al. 2019). */
    overSelection: z.number().min(1).max(3).default(1.3),
    roundDeadlineSeconds: z.int().min(5).max(7 * 24 * 3600).default(600),
    localEpochs: z.int().min(1).max(100).default(1),
    batchSize: z.int().min(1).max(8192).default(32),
    learningRate: positive().default(0.05),
    /** Examples a device must hold to be eligible. */
    minExamples: z.int().min(1).default(10),
    /**
     * Most examples one device's update is weighted by. The coordinator weights
     * an update by min(examples claimed at upload, examples declared at
     * check-in, maxExamplesPerDevice): a device's count is its own claim, so
     * the operator bounds it.
     */
    maxExamplesPerDevice: z.int().min(1).max(1_000_000_000).default(10_000),
    /**
     * Mean strategies without central DP: no device's share of the round's
     * total weight exceeds maxDeviceWeightFactor / n (n reports), so one device
     * moves the step at most that many times as much as an equal share would.
     * Larger weights are lowered to a common level (water-filling) at close.
     */
    maxDeviceWeightFactor: z.number().min(1).default(2),
    updateEncoding: UpdateEncodingSchema.prefault({ encoding: 'fp32' }),
    /** L2 bound S on each client's whole update (all tensors together). */
    clipNorm: positive().default(1),
    /** Central DP: noise stddev on the sum is noiseMultiplier * clipNorm. 0 disables central DP. */
    noiseMultiplier: z.number().min(0).default(0),
    /** Local DP: each client adds noise of stddev localNoiseMultiplier * clipNorm. */
    localNoiseMultiplier: z.number().min(0).optional(),
    adaptiveClipping: AdaptiveClippingSchema.optional(),
    strategy: StrategySchema.prefault({ name: 'fedavg' }),
    privacyBudget: PrivacyBudgetSchema.optional(),
    /** How devices are picked; the privacy accounting follows it (see SamplingSchema). */
    sampling: SamplingSchema.prefault({ kind: 'first-come' }),
    /**
     * Expected number of eligible devices. Informative only: the accountant
     * never derives a sampling rate from it (selection would have to be random
     * over exactly this many devices for that to hold).
     */
    population: z.int().min(1),
  })
  .superRefine((p, ctx) => {
    if (p.minReports !== undefined && p.minReports > p.clientsPerRound) {
      ctx.addIssue({
        code: 'custom',
        path: ['minReports'],
        message: `minReports (${p.minReports}) must not exceed clientsPerRound (${p.clientsPerRound})`,
      });
    }
    if (p.maxExamplesPerDevice < p.minExamples) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxExamplesPerDevice'],
        message: `maxExamplesPerDevice (${p.maxExamplesPerDevice}) is below minExamples (${p.minExamples}); no device could count its eligible examples`,
      });
    }
    if (p.clientsPerRound > p.population) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientsPerRound'],
        message: `clientsPerRound (${p.clientsPerRound}) exceeds population (${p.population}); the sampling rate must be at most 1`,
      });
    }
    if (p.privacyBudget !== undefined && p.noiseMultiplier === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['noiseMultiplier'],
        message: 'a privacyBudget needs central noise: set noiseMultiplier > 0 (e.g. 1.0), or drop privacyBudget',
      });
    }
    if (p.sampling.kind === 'poisson') {
      // The coordinator does not draw Poisson selections yet; accepting the plan would charge amplification it never earned.
      ctx.addIssue({ code: 'custom', path: ['sampling', 'kind'], message: 'sampling "poisson" is not implemented by this coordinator yet: use { kind: "first-come" } (charged at q = 1)' });
    }
    // Combinations the aggregator cannot run: refused here, not found out at the first close.
    const robust = p.strategy.name === 'median' || p.strategy.name === 'trimmed-mean';
    if (robust && p.noiseMultiplier > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['strategy', 'name'],
        message: `strategy "${p.strategy.name}" cannot take central noise (noiseMultiplier ${p.noiseMultiplier}): its sensitivity is not clipNorm; use a mean strategy (fedavg, fedadam, norm-bounding, ...) or set noiseMultiplier 0`,
      });
    }
    if (p.adaptiveClipping !== undefined && p.noiseMultiplier === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['adaptiveClipping'],
        message: 'adaptiveClipping runs only with central noise (noiseMultiplier > 0); without it the clip norm would never move: drop adaptiveClipping or set noiseMultiplier',
      });
    }
    if (p.adaptiveClipping !== undefined && p.noiseMultiplier >= ADAPTIVE_CLIP_MAX_Z_PER_CLIENT * p.clientsPerRound) {
      ctx.addIssue({
        code: 'custom',
        path: ['adaptiveClipping'],
        message: `adaptiveClipping with noiseMultiplier ${p.noiseMultiplier} needs noiseMultiplier < 0.1 * clientsPerRound (${ADAPTIVE_CLIP_MAX_Z_PER_CLIENT * p.clientsPerRound}): raise clientsPerRound above ${Math.floor(p.noiseMultiplier / ADAPTIVE_CLIP_MAX_Z_PER_CLIENT)}, lower noiseMultiplier, or drop adaptiveClipping`,
      });
    }
  })
  .transform((p) => ({
    ...p,
    minReports: p.minReports ?? Math.max(1, Math.ceil(p.clientsPerRound * 0.8)),
    strategy:
      p.strategy.name === 'norm-bounding' && p.strategy.normBound === undefined
        ? { ...p.strategy, normBound: p.clipNorm }
        : p.strategy,
  }));
/** A parsed task plan, all defaults filled. */
export type TaskPlan = z.output<typeof TaskPlanSchema>;
/** A task plan as an operator writes it (defaults optional). */
export type TaskPlanInput = z.input<typeof TaskPlanSchema>;
