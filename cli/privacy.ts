/**
 * `flock privacy epsilon|noise`: plan a privacy budget before starting a task
 * (the counterpart of TF Privacy's compute_dp_sgd_privacy). Flags are parsed
 * here; every range check is the DP library's, turned into a UsageError so
 * that a bad flag exits 2 with the library's message naming the parameter.
 * The DP library is loaded by the actions, not by `flock --help`.
 */
import type { Command } from 'commander';
import type { DpParameterError } from '../shared/dp/index.ts';
import type { CliIo } from './index.ts';
import { parseIntegerFlag, parseNumberFlag, UsageError } from './usage-error.ts';

const FLAG_OF_PARAMETER: Record<string, string> = {
  samplingRate: '--sampling-rate',
  noiseMultiplier: '--noise-multiplier',
  steps: '--steps',
  delta: '--delta',
  targetEpsilon: '--epsilon',
  tolerance: '--tolerance',
};

const dpLibrary = () => import('../shared/dp/index.ts');

/** Runs a DP computation, turning a DpParameterError into a UsageError about the flag. */
function asUsage<T>(ParameterError: typeof DpParameterError, compute: () => T): T {
  try {
    return compute();
  } catch (error) {
    if (error instanceof ParameterError) {
      const flag = FLAG_OF_PARAMETER[error.parameter] ?? error.parameter;
      throw new UsageError(error.message.replace(`${error.parameter}:`, `${flag}:`));
    }
    throw error;
  }
}

interface EpsilonFlags {
  samplingRate: string;
  noiseMultiplier: string;
  steps: string;
  delta: string;
  json?: boolean;
}
interface NoiseFlags {
  samplingRate: string;
  steps: string;
  delta: string;
  epsilon: string;
  tolerance?: string;
  json?: boolean;
}

/**
 * Adds the `privacy` command group to the program.
 *
 * @example
 * // flock privacy epsilon --sampling-rate 0.01 --noise-multiplier 1.1 --steps 1000 --delta 1e-5
 * registerPrivacyCommands(program, io);
 */
export function registerPrivacyCommands(program: Command, io: CliIo): void {
  const privacy = program
    .command('privacy')
    .description('plan differential-privacy budgets (RDP accountant, as Google dp_accounting)');

  privacy
    .command('epsilon')
    .description('epsilon spent by STEPS rounds of the Poisson-subsampled Gaussian mechanism')
    .requiredOption('--sampling-rate <q>', 'probability that a client/example takes part in a round, in (0, 1]')
    .requiredOption('--noise-multiplier <z>', 'noise stddev / clip norm, >= 0')
    .requiredOption('--steps <t>', 'number of rounds (integer >= 1)')
    .requiredOption('--delta <d>', 'target delta, in (0, 1)')
    .option('--json', 'print JSON')
    .action(async (flags: EpsilonFlags) => {
      const { computeEpsilon, DpParameterError } = await dpLibrary();
      const params = {
        samplingRate: parseNumberFlag('--sampling-rate', flags.samplingRate),
        noiseMultiplier: parseNumberFlag('--noise-multiplier', flags.noiseMultiplier),
        steps: parseIntegerFlag('--steps', flags.steps),
        delta: parseNumberFlag('--delta', flags.delta),
      };
      const { epsilon, order } = asUsage(DpParameterError, () => computeEpsilon(params));
      if (flags.json) {
        io.out(`${JSON.stringify({ epsilon, order, ...params })}\n`);
      } else {
        io.out(
          `epsilon = ${epsilon.toPrecision(6)} at delta = ${params.delta} (best RDP order ${order}; ` +
            `q = ${params.samplingRate}, noise multiplier = ${params.noiseMultiplier}, ${params.steps} steps)\n`,
        );
      }
    });

  privacy
    .command('noise')
    .description('smallest noise multiplier that keeps STEPS rounds within EPSILON')
    .requiredOption('--sampling-rate <q>', 'probability that a client/example takes part in a round, in (0, 1]')
    .requiredOption('--steps <t>', 'number of rounds (integer >= 1)')
    .requiredOption('--delta <d>', 'target delta, in (0, 1)')
    .requiredOption('--epsilon <e>', 'target epsilon, > 0')
    .option('--tolerance <r>', 'relative tolerance of the bisection', '1e-4')
    .option('--json', 'print JSON')
    .action(async (flags: NoiseFlags) => {
      const { calibrateNoiseMultiplier, computeEpsilon, DpParameterError } = await dpLibrary();
      const params = {
        samplingRate: parseNumberFlag('--sampling-rate', flags.samplingRate),
        steps: parseIntegerFlag('--steps', flags.steps),
        delta: parseNumberFlag('--delta', flags.delta),
        targetEpsilon: parseNumberFlag('--epsilon', flags.epsilon),
        tolerance: parseNumberFlag('--tolerance', flags.tolerance ?? '1e-4'),
      };
      const noiseMultiplier = asUsage(DpParameterError, () => calibrateNoiseMultiplier(params));
      const achieved = computeEpsilon({ ...params, noiseMultiplier });
      if (flags.json) {
        io.out(`${JSON.stringify({ noiseMultiplier, epsilon: achieved.epsilon, order: achieved.order, ...params })}\n`);
      } else {
        io.out(
          `noise multiplier = ${noiseMultiplier.toPrecision(6)} (epsilon ${achieved.epsilon.toPrecision(6)} <= ` +
            `${params.targetEpsilon} at delta = ${params.delta}; q = ${params.samplingRate}, ${params.steps} steps)\n`,
        );
      }
    });
}
