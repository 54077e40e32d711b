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
import {
  STRATEGIES,
  STRATEGY_NAMES,
  strategiesSupporting,
  strategyDescriptor,
  type StrategyConfig,
  type StrategyDescriptor,
  type StrategyName,
} from './strategies/index.ts';
import { SecureAggregationSchema, secureAggregationConflicts } from './secure-aggregation.ts';

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

/** Option schemas without their defaults or optionality: a plan's strategy may leave any of them out. */
function bareOption(schema: z.ZodType): z.ZodType<number, number> {
  let inner = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  return inner as z.ZodType<number, number>;
}

/** Only the keys `d` reads, so its strict options schema sees nothing else. */
function ownOptions(d: StrategyDescriptor, s: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(d.options.shape)
      .filter((k) => s[k] !== undefined)
      .map((k) => [k, s[k]]),
  );
}

type StrategyOptionKey = (typeof STRATEGIES)[number] extends infer D
  ? D extends { options: z.ZodObject }
    ? keyof D['options']['shape'] & string
    : never
  : never;
/** A strategy as an operator writes it: a name and options; which options apply is checked at parse. */
export type StrategyInput = { name: StrategyName } & { [K in StrategyOptionKey]?: number };

type OptionShape = { [K in StrategyOptionKey]: z.ZodOptional<z.ZodType<number, number>> };
/** Every option some strategy reads, as the plan's input accepts it; which apply is the named strategy's descriptor's say. */
const STRATEGY_OPTION_SHAPE = ((): OptionShape => {
  const shape: Record<string, z.ZodOptional<z.ZodType<number, number>>> = {};
  for (const d of STRATEGIES) {
    for (const [key, schema] of Object.entries(d.options.shape))
      shape[key] ??= bareOption(schema as z.ZodType).optional();
  }
  // Filled from the same descriptors StrategyOptionKey is read from, so every key is there.
  return shape as OptionShape;
})();
const OPTION_BY_KEY = new Map<string, z.ZodType>(Object.entries(STRATEGY_OPTION_SHAPE));

/**
 * Server-side aggregation strategy and its options. The named strategy's
 * descriptor (shared/protocol/strategies/) decides which options apply, their
 * ranges and their defaults; an option it does not read is refused.
 */
export const StrategySchema = z
  .strictObject({ name: z.enum(STRATEGY_NAMES), ...STRATEGY_OPTION_SHAPE })
  .superRefine((s, ctx) => {
    // zod reports an unknown name itself; a refinement must not throw over it.
    const d: StrategyDescriptor | undefined = STRATEGIES.find((known) => known.name === s.name);
    if (!d) return;
    const record = s as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (key === 'name' || record[key] === undefined || key in d.options.shape) continue;
      const users = STRATEGIES.filter((other) => key in other.options.shape).map((other) => other.name);
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `${key} does not apply to strategy "${s.name}" (it is read by ${users.join(', ')})`,
      });
    }
    const own = d.options.safeParse(ownOptions(d, record));
    for (const issue of own.success ? [] : own.error.issues) {
      const key = String(issue.path[0]);
      // Already reported by the shared shape above (the same range): say it once.
      if (!OPTION_BY_KEY.get(key)?.safeParse(record[key]).success) continue;
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    }
  })
  .transform((s) => {
    const d: StrategyDescriptor = strategyDescriptor(s.name);
    return { name: s.name, ...d.options.parse(ownOptions(d, s as Record<string, unknown>)) } as StrategyConfig;
  });
export type Strategy = StrategyConfig;

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

/** Which holdout a task's rounds are evaluated on (see TaskPlanSchema.evaluation). */
export const EvaluationSchema = z.strictObject({
  holdout: z.union([
    z.literal('model'),
    z.string().regex(/^[0-9a-f]{64}$/, 'holdout must be "model" or a holdout blob\'s sha256 (64 hex digits)'),
  ]),
});
export type Evaluation = z.output<typeof EvaluationSchema>;

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
    roundDeadlineSeconds: z
      .int()
      .min(5)
      .max(7 * 24 * 3600)
      .default(600),
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
     * Strategies whose descriptor bounds device weights (the mean ones, see
     * `boundsDeviceWeights`), without central DP: no device's share of the round's
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
     * Evaluate each round's new version on a holdout (accuracy and loss kept
     * with the round): `'model'`, the holdout pushed with the task's base
     * version (`flock model push --holdout`), or a stored holdout's sha256.
     * The coordinator resolves `'model'` to the sha256 when the task is made.
     */
    evaluation: EvaluationSchema.optional(),
    /**
     * Secure aggregation (SecAgg+) with distributed discrete Gaussian noise:
     * the coordinator sees only the survivors' sum. Refuses what needs
     * individual updates (see shared/protocol/secure-aggregation.ts).
     */
    secureAggregation: SecureAggregationSchema.optional(),
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
    if (p.privacyBudget !== undefined && p.noiseMultiplier === 0 && !p.secureAggregation) {
      ctx.addIssue({
        code: 'custom',
        path: ['noiseMultiplier'],
        message: 'a privacyBudget needs central noise: set noiseMultiplier > 0 (e.g. 1.0), or drop privacyBudget',
      });
    }
    if (p.privacyBudget !== undefined && p.secureAggregation && p.secureAggregation.noiseMultiplier === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['secureAggregation', 'noiseMultiplier'],
        message:
          'a privacyBudget with secureAggregation needs the devices to add noise: set secureAggregation.noiseMultiplier > 0 (e.g. 1.0), or drop privacyBudget',
      });
    }
    for (const conflict of secureAggregationConflicts(p)) ctx.addIssue({ code: 'custom', ...conflict });
    if (p.sampling.kind === 'poisson') {
      // The coordinator does not draw Poisson selections yet; accepting the plan would charge amplification it never earned.
      ctx.addIssue({
        code: 'custom',
        path: ['sampling', 'kind'],
        message:
          'sampling "poisson" is not implemented by this coordinator yet: use { kind: "first-come" } (charged at q = 1)',
      });
    }
    // Combinations the aggregator cannot run: refused here, not found out at the first close.
    const centralDp = STRATEGIES.find((d) => d.name === p.strategy.name)?.centralDp;
    if (centralDp && !centralDp.supported && p.noiseMultiplier > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['strategy', 'name'],
        message: `strategy "${p.strategy.name}" cannot take central noise (noiseMultiplier ${p.noiseMultiplier}): ${centralDp.why}; use one of ${strategiesSupporting('centralDp').join(', ')}, or set noiseMultiplier 0`,
      });
    }
    if (p.adaptiveClipping !== undefined && p.noiseMultiplier === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['adaptiveClipping'],
        message:
          'adaptiveClipping runs only with central noise (noiseMultiplier > 0); without it the clip norm would never move: drop adaptiveClipping or set noiseMultiplier',
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
    strategy: withPlanDefaults(p.strategy, p),
    ...(p.secureAggregation && {
      secureAggregation: {
        ...p.secureAggregation,
        minSurvivors:
          p.secureAggregation.minSurvivors ?? Math.max(2, p.minReports ?? Math.ceil(p.clientsPerRound * 0.8)),
      },
    }),
  }));

/** The strategy's options that default to other plan fields, filled where the operator left them out. */
function withPlanDefaults(strategy: StrategyConfig, plan: { clipNorm: number }): StrategyConfig {
  const fill: Record<string, unknown> =
    (strategyDescriptor(strategy.name) as StrategyDescriptor).planDefaults?.(plan) ?? {};
  const given = strategy as Record<string, unknown>;
  const missing = Object.entries(fill).filter(([key]) => given[key] === undefined);
  return missing.length ? ({ ...strategy, ...Object.fromEntries(missing) } as StrategyConfig) : strategy;
}
/** A parsed task plan, all defaults filled. */
export type TaskPlan = z.output<typeof TaskPlanSchema>;
/** A task plan as an operator writes it (defaults optional). */
export type TaskPlanInput = z.input<typeof TaskPlanSchema>;
