/**
 * `flock task create --secure-aggregation [--bits B] [--neighbours K]
 * [--threshold T] [--min-survivors N] [--distributed-noise-multiplier Z]`:
 * flags that fill the plan's `secureAggregation` field (over what the plan
 * file says), so an operator can turn it on without editing JSON. The plan
 * is then validated as a whole, so conflicts (median, central noise, a bit
 * width that could overflow) are refused with the schema's own message.
 */
import { UsageError, parseIntegerFlag, parseNumberFlag } from './usage-error.ts';

export interface SecureAggregationFlags {
  secureAggregation?: boolean;
  bits?: string;
  neighbours?: string;
  threshold?: string;
  minSurvivors?: string;
  distributedNoiseMultiplier?: string;
}

/** The commander definitions, in help order: [flag spec, description]. */
export const SECURE_AGGREGATION_OPTIONS: ReadonlyArray<readonly [string, string]> = [
  ['--secure-aggregation', "SecAgg+: the coordinator sees only the sum of the survivors' updates"],
  ['--bits <b>', 'with --secure-aggregation: signed bits per value (selected devices * 2^(b-1) < 2^31; default 20)'],
  ['--neighbours <k>', 'with --secure-aggregation: neighbours per device (default: the sparsest safe graph)'],
  ['--threshold <t>', 'with --secure-aggregation: shares to recover a secret (t > k/2)'],
  ['--min-survivors <n>', 'with --secure-aggregation: fewest survivors a round unmasks (default minReports)'],
  [
    '--distributed-noise-multiplier <z>',
    'with --secure-aggregation: device-added discrete Gaussian noise, stddev z x sensitivity on the sum',
  ],
];

/** The plan with the flags' secureAggregation merged in; the plan itself when no flag is given. */
export function withSecureAggregationFlags(raw: unknown, flags: SecureAggregationFlags): unknown {
  const given: Record<string, number> = {};
  if (flags.bits !== undefined) given.bits = parseIntegerFlag('--bits', flags.bits, 2);
  if (flags.neighbours !== undefined) given.neighbours = parseIntegerFlag('--neighbours', flags.neighbours, 2);
  if (flags.threshold !== undefined) given.threshold = parseIntegerFlag('--threshold', flags.threshold, 2);
  if (flags.minSurvivors !== undefined) given.minSurvivors = parseIntegerFlag('--min-survivors', flags.minSurvivors, 2);
  if (flags.distributedNoiseMultiplier !== undefined)
    given.noiseMultiplier = parseNumberFlag('--distributed-noise-multiplier', flags.distributedNoiseMultiplier);
  if (!flags.secureAggregation) {
    const stray = Object.keys(given);
    if (stray.length > 0)
      throw new UsageError(
        `${stray.map((k) => `--${k === 'noiseMultiplier' ? 'distributed-noise-multiplier' : k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} only apply with --secure-aggregation`,
      );
    return raw;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw; // the schema says what is wrong
  const plan = raw as Record<string, unknown>;
  const inFile =
    typeof plan.secureAggregation === 'object' && plan.secureAggregation !== null ? plan.secureAggregation : {};
  return { ...plan, secureAggregation: { ...inFile, ...given } };
}
