/**
 * What `flock simulate` does: federated training of N virtual clients on
 * MNIST against an in-process coordinator (simulate/) or a running one, with
 * a progress bar on stderr, a table or `--json` on stdout, and an optional
 * SVG plot. Every flag is checked before any work starts; a bad one is exit
 * code 2. The flags are in simulate-command.ts; this file, which loads tfjs
 * and the simulator, is imported only when the command runs.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import {
  STRATEGY_NAMES,
  UpdateEncodingNameSchema,
  type StrategyName,
  type UpdateEncodingName,
} from '../shared/protocol/index.ts';
import type { MnistModelKind } from '../shared/model/index.ts';
import { PARTITION_NAMES, type PartitionName } from '../simulate/partitions.ts';
import { accuracyPlotSvg } from '../simulate/plot.ts';
import { createProgress } from '../simulate/progress.ts';
import type { ProgressStream } from './simulate-command.ts';
import { runSimulation, type SimulationOptions, type SimulationResult } from '../simulate/run-simulation.ts';
import { inProcessTarget, remoteTarget, type SimulationTarget } from '../simulate/simulation-target.ts';
import { AppNameSchema } from '../shared/protocol/index.ts';
import type { CliIo } from './index.ts';
import { parseIntegerFlag, parseNumberFlag, UsageError } from './usage-error.ts';
import { secureAggregationFlagConflicts, type SecureAggregationInput } from '../simulate/simulation-plan.ts';
import { type SecureAggregationFlags, withSecureAggregationFlags } from './task-secure-aggregation.ts';

/** Raw flag values as commander hands them over (strings, or true for switches). */
export interface SimulateFlags extends SecureAggregationFlags {
  dataset: string;
  model?: string;
  centralEpochs?: string;
  clients: string;
  fraction: string;
  epochs: string;
  batch: string;
  lr: string;
  partition: string;
  alpha: string;
  rounds: string;
  target: string;
  strategy: string;
  encoding: string;
  topkFraction: string;
  clipNorm?: string;
  noiseMultiplier: string;
  dropout: string;
  stragglers: string;
  seed: string;
  workers: string;
  evalExamples: string;
  trainExamples?: string;
  plot?: string;
  json?: boolean;
  stopAtTarget?: boolean;
  url?: string;
  adminKey?: string;
  app?: string;
}

const MODELS: readonly MnistModelKind[] = ['2nn', 'cnn', 'mlp-small'];
const DATASETS = ['mnist', 'spamassassin'] as const;
const TEXT_MODELS = ['logistic', 'mlp'] as const;

function oneOf<T extends string>(flag: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw))
    throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

function inRange(flag: string, raw: string, min: number, max: number, { minOpen = false } = {}): number {
  const value = parseNumberFlag(flag, raw);
  if (value > max || value < min || (minOpen && value === min))
    throw new UsageError(`${flag} must be in ${minOpen ? '(' : '['}${min}, ${max}], got "${raw}"`);
  return value;
}

/**
 * Validates every flag into simulation options, or throws a UsageError naming the flag.
 * @example parseSimulateFlags({ ...defaults, clients: '100' }).clients // 100
 */
export function parseSimulateFlags(f: SimulateFlags): SimulationOptions {
  const dataset = oneOf('--dataset', f.dataset, DATASETS);
  const model =
    dataset === 'mnist'
      ? oneOf('--model', f.model ?? '2nn', MODELS)
      : oneOf('--model', f.model ?? 'logistic', TEXT_MODELS);
  const clients = parseIntegerFlag('--clients', f.clients);
  if (clients > 60_000)
    throw new UsageError(`--clients must be at most 60000 (one MNIST example each), got "${f.clients}"`);
  const evalExamples = parseIntegerFlag('--eval-examples', f.evalExamples);
  if (evalExamples > 10_000)
    throw new UsageError(`--eval-examples must be at most 10000 (the MNIST test set), got "${f.evalExamples}"`);
  const workers = parseIntegerFlag('--workers', f.workers, 0);
  if (workers > 16) throw new UsageError(`--workers must be at most 16, got "${f.workers}"`);
  return {
    ...(dataset === 'mnist' ? {} : { dataset }),
    model,
    ...(f.centralEpochs === undefined ? {} : { centralEpochs: parseIntegerFlag('--central-epochs', f.centralEpochs) }),
    clients,
    fraction: inRange('--fraction', f.fraction, 0, 1, { minOpen: true }),
    epochs: parseIntegerFlag('--epochs', f.epochs),
    batch: parseIntegerFlag('--batch', f.batch),
    lr: inRange('--lr', f.lr, 0, 100, { minOpen: true }),
    partition: oneOf<PartitionName>('--partition', f.partition, PARTITION_NAMES),
    alpha: inRange('--alpha', f.alpha, 0, 1e6, { minOpen: true }),
    rounds: parseIntegerFlag('--rounds', f.rounds),
    target: inRange('--target', f.target, 0, 1),
    strategy: oneOf<StrategyName>('--strategy', f.strategy, STRATEGY_NAMES),
    encoding: oneOf<UpdateEncodingName>('--encoding', f.encoding, UpdateEncodingNameSchema.options),
    topkFraction: inRange('--topk-fraction', f.topkFraction, 0, 1, { minOpen: true }),
    ...(f.clipNorm === undefined ? {} : { clipNorm: inRange('--clip-norm', f.clipNorm, 0, 1e6, { minOpen: true }) }),
    noiseMultiplier: inRange('--noise-multiplier', f.noiseMultiplier, 0, 1e3),
    dropout: inRange('--dropout', f.dropout, 0, 0.99),
    stragglers: inRange('--stragglers', f.stragglers, 0, 0.99),
    seed: parseIntegerFlag('--seed', f.seed, 0),
    workers,
    evalExamples,
    ...(f.trainExamples === undefined ? {} : { trainExamples: trainExamplesOf(f.trainExamples) }),
    ...(f.stopAtTarget ? { stopAtTarget: true } : {}),
    ...(f.app === undefined ? {} : { app: appOf(f.app) }),
    ...secureAggregationOf(f),
  };
}

/** `--secure-aggregation` and its flags, parsed as `flock task create` parses them. */
function secureAggregationOf(f: SimulateFlags): { secureAggregation?: SecureAggregationInput } {
  const { secureAggregation } = withSecureAggregationFlags({}, f) as { secureAggregation?: SecureAggregationInput };
  return secureAggregation ? { secureAggregation } : {};
}

/**
 * What secure aggregation cannot run with, named by flag, before anything
 * runs: the simulator's own limits, then the coordinator's plan schema
 * (median, compressed encodings, central noise, a bit width that could overflow, ...).
 */
function refuseSecureAggregationConflicts(o: SimulationOptions): void {
  if (!o.secureAggregation) return;
  const own: string[] = [];
  if (o.clipNorm === undefined)
    own.push(
      '--clip-norm S is required: each device clips its update to S before quantising it to --bits (try --clip-norm 1)',
    );
  if (o.stragglers > 0)
    own.push('--stragglers: a device late for a phase has dropped out of it; use --dropout P instead');
  const conflicts = [...own, ...(o.clipNorm === undefined ? [] : secureAggregationFlagConflicts(o))];
  if (conflicts.length > 0)
    throw new UsageError(`--secure-aggregation cannot run with these flags:\n  ${conflicts.join('\n  ')}`);
}

function appOf(raw: string): string {
  if (!AppNameSchema.safeParse(raw).success)
    throw new UsageError(`--app must be an app name (lowercase letters, digits, - and _), got "${raw}"`);
  return raw;
}

/** The coordinator to simulate against: `--url` (with an admin key) or one in this process. */
export function remoteOf(f: Pick<SimulateFlags, 'url' | 'adminKey'>): { url: string; adminKey: string } | null {
  if (f.url === undefined) {
    if (f.adminKey !== undefined) throw new UsageError('--admin-key only makes sense with --url');
    return null;
  }
  let url: URL;
  try {
    url = new URL(f.url);
  } catch {
    throw new UsageError(`--url must be an http(s) URL such as http://127.0.0.1:8787, got "${f.url}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--url must be an http(s) URL, got "${f.url}"`);
  const adminKey = f.adminKey ?? process.env.FLOCK_ADMIN_KEY;
  if (!adminKey)
    throw new UsageError('--url needs an admin key of that coordinator: --admin-key KEY or FLOCK_ADMIN_KEY');
  return { url: url.href, adminKey };
}

function trainExamplesOf(raw: string): number {
  const n = parseIntegerFlag('--train-examples', raw);
  if (n > 60_000) throw new UsageError(`--train-examples must be at most 60000 (the MNIST training set), got "${raw}"`);
  return n;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** A secure round's columns: the coordinator's devices per phase, the phase it ended in (or why it aborted), epsilon. */
function secureColumns(s: SimulationResult['history'][number]['secureAggregation']): string {
  const stats = s?.stats;
  if (!stats) return '';
  const counts = [stats.selected, stats.advertised, stats.shared, stats.masked, stats.unmasked].join('/');
  const phase = stats.abortReason ?? stats.phase;
  const epsilon = stats.epsilonSpent === null ? '-' : stats.epsilonSpent.toFixed(3);
  return `  ${counts.padStart(39)}  ${phase.padEnd(8)}  ${epsilon.padStart(7)}`;
}

/** The human summary printed without --json. */
export function describeResult(r: SimulationResult): string {
  const secure = r.secureAggregation !== undefined;
  const lines = [
    `round  accuracy  reports  bytes/client  seconds${secure ? '  devices per phase (sel/adv/shr/msk/unm)  phase     epsilon' : ''}`,
  ];
  for (const h of r.history)
    lines.push(
      `${String(h.round).padStart(5)}  ${pct(h.accuracy).padStart(8)}  ${String(h.reports).padStart(7)}  ${String(h.bytesUploadedPerClient).padStart(12)}  ${h.seconds.toFixed(1).padStart(7)}${secure ? secureColumns(h.secureAggregation) : ''}`,
    );
  lines.push(
    `final accuracy ${pct(r.finalAccuracy)} (best ${pct(r.bestAccuracy)}); rounds to ${pct(r.options.target)}: ${r.roundsToTarget === null ? 'not reached' : r.roundsToTarget.toFixed(1)}`,
  );
  if (r.f1 !== undefined && r.auc !== undefined) lines.push(`held-out F1 ${r.f1.toFixed(4)}, AUC ${r.auc.toFixed(4)}`);
  if (r.central)
    lines.push(
      `central (same model, union of the clients' data, ${r.central.epochs} epochs): accuracy ${pct(r.central.accuracy)}, F1 ${r.central.f1?.toFixed(4)}, AUC ${r.central.auc?.toFixed(4)}`,
    );
  if (r.secureAggregation) {
    const { plan, roundsClosed, roundsAborted } = r.secureAggregation;
    lines.push(
      `secure aggregation: ${roundsClosed} rounds unmasked, ${roundsAborted} aborted; bits ${plan.bits}, min survivors ${plan.minSurvivors}, device noise multiplier ${plan.noiseMultiplier}`,
    );
  }
  if (r.privacy)
    lines.push(`privacy spent (coordinator): epsilon ${r.privacy.epsilon.toFixed(3)} at delta ${r.privacy.delta}`);
  lines.push(
    `${r.clientsPerRound} clients/round of ${r.options.clients}, backend ${r.backend}, ${r.seconds.toFixed(0)} s`,
  );
  lines.push(`coordinator ${r.coordinator}, app ${r.app}, task ${r.taskId}`);
  return `${lines.join('\n')}\n`;
}

/** `flock simulate`: validates the flags, runs the simulation, prints its table or JSON and writes the plot. */
export async function runSimulateCommand(
  flags: SimulateFlags,
  io: CliIo,
  progressStream: ProgressStream,
): Promise<void> {
  const options = parseSimulateFlags(flags);
  if (options.noiseMultiplier > 0 && options.clipNorm === undefined)
    throw new UsageError('--noise-multiplier needs --clip-norm S (the sensitivity bound the noise is scaled to)');
  refuseSecureAggregationConflicts(options);
  if (flags.plot !== undefined && !flags.plot.endsWith('.svg'))
    throw new UsageError(`--plot writes SVG; give a file name ending in .svg, got "${flags.plot}"`);
  const remote = remoteOf(flags);
  const progress = createProgress(progressStream, options.rounds, 'simulate');
  // An unreachable coordinator or a refused key is a failed run (exit 1), not a usage mistake.
  const target: SimulationTarget = remote
    ? await remoteTarget({
        ...remote,
        onWait: (s, path) => io.err(`rate limited on ${path}: waiting ${s.toFixed(1)} s\n`),
      })
    : await inProcessTarget();
  // A fleet's coordinator keeps what we create: a fresh app name per run avoids mixing runs.
  if (remote && options.app === undefined) options.app = `sim-${randomBytes(4).toString('hex')}`;
  let result: SimulationResult;
  try {
    result = await runSimulation(options, {
      target,
      onRound: (r) => progress.update(r.round, `acc ${r.accuracy.toFixed(4)} ${r.seconds.toFixed(1)}s/round`),
    });
  } finally {
    await target.close();
  }
  progress.finish();
  if (flags.plot !== undefined) {
    const name = `${options.model} ${options.partition} C=${options.fraction} E=${options.epochs} B=${options.batch}`;
    await writeFile(flags.plot, accuracyPlotSvg([{ name, points: result.history }], { target: options.target }));
  }
  io.out(flags.json ? `${JSON.stringify(result)}\n` : describeResult(result));
}
