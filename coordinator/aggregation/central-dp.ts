/**
 * Central differential privacy for a round: DP-FedAvg (McMahan et al. 2018,
 * "Learning Differentially Private Recurrent Language Models") with optional
 * adaptive clipping (Andrew et al. 2021, "Differentially Private Learning with
 * Adaptive Clipping", geometric update).
 *
 * Each client weighs 1, never its example count: the Gaussian mechanism's
 * sensitivity is the largest change one client can make to the sum. With
 * weights n_k that is n_k * clipNorm, unbounded and self-reported; with weight 1
 * it is clipNorm, which the server enforces by re-clipping (accumulator
 * `normBound`). The denominator is the EXPECTED number of clients, not the
 * realized count, because a data-dependent denominator changes the sensitivity
 * analysis (McMahan et al.'s fixed-denominator estimator sum / (qW)).
 *
 * Adaptive clipping defaults are TFF's, read from
 * tensorflow_federated/python/aggregators/differential_privacy.py
 * (`DifferentiallyPrivateFactory.gaussian_adaptive`, which `tff.learning.dp_aggregator`
 * builds on): initial_l2_norm_clip = 0.1, target_unclipped_quantile = 0.5,
 * learning_rate = 0.2, clipped_count_stddev = 0.05 * clients_per_round
 * (0 when noise_multiplier is 0), geometric_update = True, and the value noise
 * multiplier raised to (z^-2 - (2 sigma_b)^-2)^-1/2 so the total stays z
 * (`adaptive_clip_noise_params`). The unclipped fraction follows tensorflow_privacy's
 * QuantileEstimatorQuery: bits centered by -0.5 (sensitivity 0.5), summed,
 * noised with stddev sigma_b, divided by the expected count, shifted back by
 * +0.5 and clamped to [0, 1].
 */
import { addGaussianNoise, gaussianNoise } from '../../shared/dp/index.ts';
import { AggregationError } from './errors.ts';

export const ADAPTIVE_CLIP_DEFAULTS = {
  initialClipNorm: 0.1,
  targetUnclippedQuantile: 0.5,
  learningRate: 0.2,
  /** clippedCountStddev = this * expectedClients. */
  clippedCountStddevPerClient: 0.05,
} as const;

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0))
    throw new AggregationError('bad-option', `${name} must be a positive finite number, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!(Number.isFinite(value) && value >= 0))
    throw new AggregationError('bad-option', `${name} must be a non-negative finite number, got ${value}`);
  return value;
}

/**
 * Splits the total noise multiplier z between the update sum and the
 * unclipped-count query, as TFF's `adaptive_clip_noise_params`.
 *
 * @example
 * adaptiveClipNoise({ noiseMultiplier: 1, expectedClients: 100 }) // { valueNoiseMultiplier: ~1.0056, clippedCountStddev: 5 }
 */
export function adaptiveClipNoise(input: {
  noiseMultiplier: number;
  expectedClients: number;
  clippedCountStddev?: number;
}): { valueNoiseMultiplier: number; clippedCountStddev: number } {
  const z = nonNegative('noiseMultiplier', input.noiseMultiplier);
  const expected = positive('expectedClients', input.expectedClients);
  if (z === 0) return { valueNoiseMultiplier: 0, clippedCountStddev: input.clippedCountStddev ?? 0 };
  const sigmaB = nonNegative(
    'clippedCountStddev',
    input.clippedCountStddev ?? ADAPTIVE_CLIP_DEFAULTS.clippedCountStddevPerClient * expected,
  );
  if (z >= 2 * sigmaB) {
    throw new AggregationError(
      'bad-option',
      `clippedCountStddev ${sigmaB} is too low for noiseMultiplier ${z} (needs > z/2): raise it or expect more clients per round`,
    );
  }
  return { valueNoiseMultiplier: (z ** -2 - (2 * sigmaB) ** -2) ** -0.5, clippedCountStddev: sigmaB };
}

/**
 * Noised estimate of the fraction of clients whose update norm was at most the
 * clip norm, from their reported bits.
 *
 * @example
 * noisedUnclippedFraction({ unclippedCount: 60, reportedCount: 100, expectedClients: 100, clippedCountStddev: 5 }) // ≈ 0.6
 */
export function noisedUnclippedFraction(input: {
  unclippedCount: number;
  reportedCount: number;
  expectedClients: number;
  clippedCountStddev: number;
}): number {
  const { unclippedCount, reportedCount } = input;
  if (
    !(
      Number.isInteger(unclippedCount) &&
      Number.isInteger(reportedCount) &&
      unclippedCount >= 0 &&
      unclippedCount <= reportedCount
    )
  ) {
    throw new AggregationError(
      'bad-option',
      `unclippedCount must be an integer in [0, reportedCount], got ${unclippedCount} of ${reportedCount}`,
    );
  }
  const expected = positive('expectedClients', input.expectedClients);
  const sigmaB = nonNegative('clippedCountStddev', input.clippedCountStddev);
  const noise = sigmaB > 0 ? gaussianNoise(1, sigmaB)[0] : 0;
  const centered = (unclippedCount - 0.5 * reportedCount + noise) / expected;
  return Math.min(1, Math.max(0, centered + 0.5));
}

/**
 * Geometric clip-norm update of Andrew et al. 2021: C ← C · exp(−η_C (b̄ − γ)).
 * More clients unclipped than the target quantile γ shrinks C, fewer grows it.
 *
 * @example
 * nextClipNorm({ clipNorm: 0.1, unclippedFraction: 1 }) // 0.1 * exp(-0.1) ≈ 0.0905
 */
export function nextClipNorm(input: {
  clipNorm: number;
  unclippedFraction: number;
  targetQuantile?: number;
  learningRate?: number;
}): number {
  const clipNorm = positive('clipNorm', input.clipNorm);
  const fraction = input.unclippedFraction;
  if (!(fraction >= 0 && fraction <= 1))
    throw new AggregationError('bad-option', `unclippedFraction must be in [0, 1], got ${fraction}`);
  const target = input.targetQuantile ?? ADAPTIVE_CLIP_DEFAULTS.targetUnclippedQuantile;
  if (!(target >= 0 && target <= 1))
    throw new AggregationError('bad-option', `targetQuantile must be in [0, 1], got ${target}`);
  const rate = nonNegative('learningRate', input.learningRate ?? ADAPTIVE_CLIP_DEFAULTS.learningRate);
  return clipNorm * Math.exp(-rate * (fraction - target));
}

/**
 * The DP mean: (sum + N(0, noiseStddev²)) / expectedClients, on fresh arrays.
 * `noiseStddev` is noiseMultiplier * clipNorm (value multiplier under adaptive clipping).
 *
 * @example
 * const meanDelta = privatizeSum(acc.sum(), { noiseStddev: 1.0 * clipNorm, expectedClients: 100 });
 */
export function privatizeSum(
  sum: readonly Float32Array[],
  input: { noiseStddev: number; expectedClients: number },
): Float32Array[] {
  const noiseStddev = nonNegative('noiseStddev', input.noiseStddev);
  const expected = positive('expectedClients', input.expectedClients);
  return sum.map((tensor) => {
    const out = Float32Array.from(tensor);
    if (noiseStddev > 0) addGaussianNoise(out, noiseStddev);
    for (let i = 0; i < out.length; i++) out[i] /= expected;
    return out;
  });
}
