/**
 * The distributed discrete Gaussian (DDG) of Kairouz, Liu, Steinke (ICML
 * 2021): differential privacy when the coordinator sees only the sum. Each
 * device clips its update (L2, clipNorm), rotates it (randomised Hadamard,
 * public per-round signs), scales it by 1/granularity, rounds it
 * conditionally (norm <= l2Sensitivity), adds its own discrete Gaussian
 * noise N_Z(0, deviceNoiseVariance) and wraps it mod 2^bits into the signed
 * range; those integers go through SecAgg (mod 2^32). The server unwraps
 * the sum (centred mod 2^bits), scales by the granularity and rotates back.
 *
 * Calibration: in a round with the fewest survivors (`minSurvivors`), the
 * noise of the OTHER minSurvivors - 1 devices alone has stddev
 * noiseMultiplier * l2Sensitivity (grid units), so
 * deviceNoiseVariance = (noiseMultiplier * l2Sensitivity)^2 / (minSurvivors - 1).
 * One device is protected without counting its own noise (which it knows,
 * and which a coordinator colluding with it could subtract); more survivors
 * only add noise (post-processing). Adjacency: one device's input replaced
 * by zeros. `ddgPrivacyEvent` is what the accountant charges (Proposition
 * 14 with n = minSurvivors - 1, see shared/dp/rdp-distributed-discrete-gaussian.ts).
 *
 * @example
 * const plan = planDdg({ dimension: 199_210, clipNorm: 1, noiseMultiplier: 1, bits: 20, maxDevices: 1000, minSurvivors: 80 });
 * const input = await encodeDdg(update, plan, { rotationSeed, roundId }); // device -> SecAggDevice.maskInput
 * const total = await decodeDdgSum(sum, plan, { rotationSeed, roundId });  // server, after SecAggServer.finish
 * accountant.compose(ddgPrivacyEvent(plan));
 */
import { addDiscreteGaussianNoise } from '../dp/discrete-gaussian.ts';
import type { DpEvent } from '../dp/accountant.ts';
import { DEFAULT_ROUNDING_BETA, roundConditionally, roundingNormBound } from './conditional-rounding.ts';
import { paddedLength, rotate, rotationSigns, unrotate } from './hadamard-rotation.ts';
import { SecAggError } from './secagg-error.ts';

export interface DdgOptions {
  /** Length of the flattened update. */
  dimension: number;
  /** L2 bound on each device's whole update, in model units. */
  clipNorm: number;
  /** Noise stddev of minSurvivors - 1 devices' noise / l2Sensitivity (the central-DP z). 0: no noise. */
  noiseMultiplier: number;
  /** Signed bits each device's wrapped value takes; maxDevices * 2^(bits-1) < 2^31. */
  bits: number;
  /** Most devices whose vectors may be summed (the round's selection). */
  maxDevices: number;
  /** Fewest survivors the round accepts: the noise is calibrated to their sum. */
  minSurvivors: number;
  /** Model units per grid step; chosen from the bit width when absent (see chooseGranularity). */
  granularity?: number;
  /** beta of the conditional rounding (default e^-0.5). */
  roundingBeta?: number;
  /** Stddevs of the sum's coordinate that must fit in 2^(bits-1) (default 4): utility only, never privacy. */
  wrapHeadroomStddevs?: number;
}

/** Everything encoding, decoding and accounting need, derived once per round. */
export interface DdgPlan {
  dimension: number;
  paddedDimension: number;
  clipNorm: number;
  noiseMultiplier: number;
  bits: number;
  maxDevices: number;
  minSurvivors: number;
  granularity: number;
  /** clipNorm / granularity: the clip in grid units. */
  scaledClipNorm: number;
  /** Bound on ||rounded vector||_2 (grid units): the sensitivity charged. */
  l2Sensitivity: number;
  /** sigma^2 each device adds per coordinate (grid units squared). */
  deviceNoiseVariance: number;
}

/** Throws `bad-parameters` unless a sum of maxDevices wrapped values cannot overflow 32 bits. */
export function checkDdgBits(bits: number, maxDevices: number): void {
  if (!Number.isInteger(bits) || bits < 2 || bits > 31)
    throw new SecAggError('bad-parameters', `bits must be an integer in [2, 31], got ${bits}`, { bits });
  if (!Number.isSafeInteger(maxDevices) || maxDevices < 1)
    throw new SecAggError('bad-parameters', `maxDevices must be an integer >= 1, got ${maxDevices}`, { maxDevices });
  if (maxDevices * 2 ** (bits - 1) >= 2 ** 31) {
    const largest = Math.ceil(32 - Math.log2(maxDevices)) - 1;
    throw new SecAggError(
      'bad-parameters',
      `a sum of ${maxDevices} devices at ${bits} bits could overflow 32 bits (needs maxDevices * 2^(bits-1) < 2^31); use bits <= ${largest} or fewer devices`,
      { bits, maxDevices, largestSafeBits: largest },
    );
  }
}

function derive(o: DdgOptions, granularity: number): DdgPlan {
  const paddedDimension = paddedLength(o.dimension);
  const scaledClipNorm = o.clipNorm / granularity;
  const l2Sensitivity = roundingNormBound(scaledClipNorm, paddedDimension, o.roundingBeta ?? DEFAULT_ROUNDING_BETA);
  const deviceNoiseVariance = (o.noiseMultiplier * l2Sensitivity) ** 2 / (o.minSurvivors - 1);
  return { ...pick(o), paddedDimension, granularity, scaledClipNorm, l2Sensitivity, deviceNoiseVariance };
}

function pick(o: DdgOptions) {
  const { dimension, clipNorm, noiseMultiplier, bits, maxDevices, minSurvivors } = o;
  return { dimension, clipNorm, noiseMultiplier, bits, maxDevices, minSurvivors };
}

/**
 * Stddev bound of one coordinate of the wrapped sum: maxDevices updates all
 * aligned (n c / sqrt(d) after rotation), plus rounding (1/4 each) and noise.
 */
export function sumCoordinateStddev(plan: DdgPlan): number {
  const n = plan.maxDevices;
  const signal = (n * plan.scaledClipNorm) ** 2 / plan.paddedDimension;
  return Math.sqrt(signal + n / 4 + n * plan.deviceNoiseVariance);
}

/**
 * The finest granularity whose sum still fits: wrapHeadroomStddevs *
 * sumCoordinateStddev <= 2^(bits-1) - 1 (bisection on log granularity).
 * Throws when no granularity fits (rounding and noise alone overflow the bits).
 */
export function chooseGranularity(o: DdgOptions): number {
  const k = o.wrapHeadroomStddevs ?? 4;
  const room = 2 ** (o.bits - 1) - 1;
  const fits = (g: number) => k * sumCoordinateStddev(derive(o, g)) <= room;
  let hi = o.clipNorm * 1e12;
  if (!fits(hi))
    throw new SecAggError(
      'bad-parameters',
      `${o.bits} bits cannot hold the rounding and noise of ${o.maxDevices} devices even at the coarsest grid; raise bits (up to the overflow limit) or lower maxDevices or noiseMultiplier`,
      { bits: o.bits, maxDevices: o.maxDevices },
    );
  let lo = o.clipNorm * 1e-12;
  if (fits(lo)) return lo;
  for (let i = 0; i < 200; i++) {
    const mid = Math.sqrt(lo * hi);
    if (fits(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Checks the options and derives the round's DDG plan (granularity, sensitivity, per-device noise). */
export function planDdg(o: DdgOptions): DdgPlan {
  checkDdgBits(o.bits, o.maxDevices);
  const fail = (m: string) => {
    throw new SecAggError('bad-parameters', m);
  };
  if (!Number.isSafeInteger(o.dimension) || o.dimension < 1)
    fail(`dimension must be an integer >= 1, got ${o.dimension}`);
  if (!(o.clipNorm > 0 && Number.isFinite(o.clipNorm))) fail(`clipNorm must be finite and > 0, got ${o.clipNorm}`);
  if (!(o.noiseMultiplier >= 0 && Number.isFinite(o.noiseMultiplier)))
    fail(`noiseMultiplier must be finite and >= 0, got ${o.noiseMultiplier}`);
  if (!Number.isSafeInteger(o.minSurvivors) || o.minSurvivors < 2 || o.minSurvivors > o.maxDevices)
    fail(
      `minSurvivors must be an integer in [2, maxDevices = ${o.maxDevices}] (one device's privacy rests on the others' noise), got ${o.minSurvivors}`,
    );
  if (o.granularity !== undefined && !(o.granularity > 0 && Number.isFinite(o.granularity)))
    fail(`granularity must be finite and > 0, got ${o.granularity}`);
  const plan = derive(o, o.granularity ?? chooseGranularity(o));
  if (plan.noiseMultiplier > 0 && plan.deviceNoiseVariance < 0.25)
    fail(
      `per-device noise variance ${plan.deviceNoiseVariance} is below 1/4, where the DDG bound does not hold; use fewer minSurvivors or a finer granularity`,
    );
  return plan;
}

export interface DdgRound {
  /** The public per-round seed of the rotation's signs (>= 16 bytes), the same for every device and the server. */
  rotationSeed: Uint8Array;
  roundId: string;
}

/** Device side: clip, rotate, scale, round, noise, wrap; the uint32 words SecAggDevice.maskInput takes. */
export async function encodeDdg(update: Float32Array, plan: DdgPlan, round: DdgRound): Promise<Uint32Array> {
  if (update.length !== plan.dimension)
    throw new SecAggError('bad-parameters', `update has ${update.length} values, the plan ${plan.dimension}`);
  let sq = 0;
  for (let i = 0; i < update.length; i++) {
    if (!Number.isFinite(update[i]))
      throw new SecAggError('bad-parameters', `value ${i} is not finite (${update[i]}); drop the update`);
    sq += update[i] * update[i];
  }
  const norm = Math.sqrt(sq);
  const signs = await rotationSigns(round.rotationSeed, round.roundId, plan.paddedDimension);
  const y = rotate(update, signs);
  // Clip and scale together: ||y|| = ||update||, and the result has norm <= scaledClipNorm.
  const scale = (norm > plan.clipNorm ? plan.clipNorm / norm : 1) / plan.granularity;
  for (let i = 0; i < y.length; i++) y[i] *= scale;
  const rounded = roundConditionally(y, plan.l2Sensitivity);
  if (plan.deviceNoiseVariance > 0) addDiscreteGaussianNoise(rounded, plan.deviceNoiseVariance);
  const modulus = 2 ** plan.bits;
  const half = 2 ** (plan.bits - 1);
  const out = new Uint32Array(rounded.length);
  for (let i = 0; i < rounded.length; i++) {
    const wrapped = ((((rounded[i] + half) % modulus) + modulus) % modulus) - half; // in [-2^(b-1), 2^(b-1))
    out[i] = wrapped >>> 0;
  }
  return out;
}

/** Server side: the survivors' sum mod 2^32 -> centred mod 2^bits -> times granularity -> rotated back (a sum, not a mean). */
export async function decodeDdgSum(sum: Uint32Array, plan: DdgPlan, round: DdgRound): Promise<Float32Array> {
  if (sum.length !== plan.paddedDimension)
    throw new SecAggError('bad-parameters', `sum has ${sum.length} words, the plan ${plan.paddedDimension}`);
  const modulus = 2 ** plan.bits;
  const half = 2 ** (plan.bits - 1);
  const y = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) {
    const centred = ((((sum[i] | 0) + half) % modulus) + modulus) % modulus;
    y[i] = (centred - half) * plan.granularity;
  }
  const signs = await rotationSigns(round.rotationSeed, round.roundId, plan.paddedDimension);
  return Float32Array.from(unrotate(y, signs, plan.dimension));
}

/** The accountant's event for one round of this plan (q = 1: no amplification claimed). */
export function ddgPrivacyEvent(plan: DdgPlan): DpEvent {
  return {
    kind: 'distributed-discrete-gaussian',
    l2Sensitivity: plan.l2Sensitivity,
    deviceNoiseVariance: plan.deviceNoiseVariance,
    // The others' noise only: a valid bound whether or not the device's own noise is counted.
    devices: plan.minSurvivors - 1,
    dimension: plan.paddedDimension,
  };
}
