/**
 * The one error type of the DP module. It names the offending parameter so a
 * caller (the CLI, a route validating a task) can point at the right field
 * instead of echoing a stack trace.
 */

/** A DP parameter is out of its domain (for example `samplingRate` outside (0, 1]). */
export class DpParameterError extends Error {
  override name = 'DpParameterError';
  readonly parameter: string;

  constructor(parameter: string, message: string) {
    super(`${parameter}: ${message}`);
    this.parameter = parameter;
  }
}

/** Throws unless `value` is a finite number. */
export function requireFinite(parameter: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new DpParameterError(parameter, `must be a finite number, got ${String(value)}`);
  }
}

/** Sampling rate q of Poisson subsampling: must lie in (0, 1]. */
export function requireSamplingRate(value: number, parameter = 'samplingRate'): void {
  requireFinite(parameter, value);
  if (value <= 0 || value > 1) {
    throw new DpParameterError(parameter, `must be in (0, 1], got ${value}`);
  }
}

/** Noise multiplier (noise stddev / L2 sensitivity): must be >= 0. */
export function requireNoiseMultiplier(value: number, parameter = 'noiseMultiplier'): void {
  requireFinite(parameter, value);
  if (value < 0) throw new DpParameterError(parameter, `must be >= 0, got ${value}`);
}

/** Delta of (epsilon, delta)-DP: must lie in (0, 1). */
export function requireDelta(value: number, parameter = 'delta'): void {
  requireFinite(parameter, value);
  if (value <= 0 || value >= 1) {
    throw new DpParameterError(parameter, `must be in (0, 1), got ${value}`);
  }
}

/** A count of steps or compositions: an integer >= `min`. */
export function requireInteger(parameter: string, value: number, min: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new DpParameterError(parameter, `must be an integer >= ${min}, got ${String(value)}`);
  }
}
