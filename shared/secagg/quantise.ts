/**
 * Floats <-> integers mod 2^32 for secure aggregation. Each coordinate is
 * clipped to [-clipRange, clipRange] and rounded to one of 2^(bits-1) - 1
 * signed levels per side, stored in two's complement mod 2^32. A sum of at
 * most `maxDevices` such vectors stays inside (-2^31, 2^31) when
 * maxDevices * 2^(bits-1) < 2^31, so reading the sum as int32 gives the true
 * integer sum; `checkQuantisation` refuses any config where it could not.
 *
 * @example
 * const q = { clipRange: 0.05, bits: 16, maxDevices: 1000 };
 * checkQuantisation(q);
 * const input = quantise(update, q);           // on each device, then mask
 * const mean = dequantiseSum(sum, q).map((v) => v / survivors);
 */
import { SecAggError } from './secagg-error.ts';

export interface QuantisationConfig {
  /** Largest magnitude of one coordinate kept; larger values are clipped to it. */
  clipRange: number;
  /** Signed bits per device value, 2..31 (levels per side: 2^(bits-1) - 1). */
  bits: number;
  /** Most devices whose vectors may be summed. */
  maxDevices: number;
}

/** Throws `bad-parameters` unless the config is valid and a sum of `maxDevices` vectors cannot wrap. */
export function checkQuantisation(config: QuantisationConfig): void {
  const { clipRange, bits, maxDevices } = config;
  if (!(Number.isFinite(clipRange) && clipRange > 0)) {
    throw new SecAggError('bad-parameters', `clipRange must be a finite number > 0, got ${clipRange}`);
  }
  if (!Number.isInteger(bits) || bits < 2 || bits > 31) {
    throw new SecAggError('bad-parameters', `bits must be an integer in [2, 31], got ${bits}`);
  }
  if (!Number.isSafeInteger(maxDevices) || maxDevices < 1) {
    throw new SecAggError('bad-parameters', `maxDevices must be an integer >= 1, got ${maxDevices}`);
  }
  if (maxDevices * 2 ** (bits - 1) >= 2 ** 31) {
    const largest = Math.min(31, Math.ceil(31 - Math.log2(maxDevices)));
    throw new SecAggError(
      'bad-parameters',
      `a sum of ${maxDevices} devices at ${bits} bits could overflow 32 bits (needs maxDevices * 2^(bits-1) < 2^31); use bits <= ${largest} or fewer devices`,
      { bits, maxDevices, largestSafeBits: largest },
    );
  }
}

/** Levels per side: a value of clipRange maps to this integer. */
export function quantisationLevels(config: QuantisationConfig): number {
  return 2 ** (config.bits - 1) - 1;
}

/** Clips, scales and rounds (to nearest) each float; NaN or infinite input is refused. */
export function quantise(values: Float32Array | readonly number[], config: QuantisationConfig): Uint32Array {
  checkQuantisation(config);
  const levels = quantisationLevels(config);
  const scale = levels / config.clipRange;
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!Number.isFinite(x))
      throw new SecAggError(
        'bad-parameters',
        `value ${i} is not finite (${x}); clip or drop the update before quantising`,
      );
    const clipped = x > config.clipRange ? config.clipRange : x < -config.clipRange ? -config.clipRange : x;
    out[i] = Math.round(clipped * scale);
  }
  return out;
}

/** Reads a sum mod 2^32 as signed integers and scales back to floats (a sum, not a mean). */
export function dequantiseSum(sum: Uint32Array, config: QuantisationConfig): Float32Array {
  checkQuantisation(config);
  const unit = config.clipRange / quantisationLevels(config);
  const out = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = (sum[i] | 0) * unit;
  return out;
}
