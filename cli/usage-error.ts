/**
 * A mistake in how the CLI was called (a bad flag value, a missing argument).
 * `main` prints its message and exits with code 2, as commander does for
 * unknown options, so scripts can tell "you called me wrong" (2) from
 * "the work failed" (1).
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses a finite number from a flag value or throws a UsageError naming the flag. */
export function parseNumberFlag(flag: string, raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value)) {
    throw new UsageError(`${flag} must be a number, got "${raw}"`);
  }
  return value;
}

/** Parses a positive integer from a flag value or throws a UsageError naming the flag. */
export function parseIntegerFlag(flag: string, raw: string, min = 1): number {
  const value = parseNumberFlag(flag, raw);
  if (!Number.isInteger(value) || value < min) {
    throw new UsageError(`${flag} must be an integer >= ${min}, got "${raw}"`);
  }
  return value;
}
