/**
 * Durations on the command line: a number with a unit (`90s`, `45m`, `12h`,
 * `30d`, `2w`), as operators write them.
 *
 * @example
 * parseDurationFlag('--telemetry-retention', '30d') // 2_592_000_000
 */
import { UsageError } from './usage-error.ts';

const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds for `raw`; a UsageError naming the flag for anything else (or below `minMs`). */
export function parseDurationFlag(flag: string, raw: string, minMs = 60_000): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/.exec(raw);
  if (!match)
    throw new UsageError(`${flag} must be a number with a unit s, m, h, d or w (e.g. 30d), got ${JSON.stringify(raw)}`);
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2]]);
  if (ms < minMs) throw new UsageError(`${flag} must be at least ${minMs / 1000} s, got ${JSON.stringify(raw)}`);
  return ms;
}
