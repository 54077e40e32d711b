/**
 * `flock rollout start|list|show|pause|resume|promote|abort`: canary rollouts
 * from the terminal, through the admin API.
 *
 * @example
 * // flock rollout start --app digits --candidate 2 --stages 5,25,50,100 --min-stage-seconds 3600
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { RolloutViewSchema, type RolloutView } from '../coordinator/routes/admin-rollouts.ts';
import { adminRequest, cell, renderTable, resolveConnection, withConnectionOptions, type ConnectionFlags } from './admin-http.ts';
import type { CliIo } from './index.ts';
import { parseIntegerFlag, parseNumberFlag, UsageError } from './usage-error.ts';

const ShadowReportSchema = z.object({ shadowVersion: z.number(), comparisons: z.number(), devices: z.number(), agreementRate: z.number().nullable(), latencyDeltaMs: z.number().nullable() });
const ShowSchema = RolloutViewSchema.extend({ drift: z.record(z.string(), z.unknown()).optional(), shadowReport: ShadowReportSchema.nullable().optional() });

interface StartFlags extends ConnectionFlags { app: string; candidate: string; stages?: string; minStageSeconds?: string; minSamples?: string; metricsJson?: string; shadowVersion?: string; shadowSampleRate?: string; json?: boolean }
interface ListFlags extends ConnectionFlags { app?: string; json?: boolean }
interface OneFlags extends ConnectionFlags { json?: boolean }

/** Human text for one rollout with its latest verdict. */
export function describeRollout(r: RolloutView & { shadowReport?: z.infer<typeof ShadowReportSchema> | null }): string {
  const lines = [
    `rollout ${r.id}  ${r.status}${r.reason ? ` (${r.reason})` : ''}`,
    `app         ${r.app}: v${r.candidateVersion} (canary) vs v${r.controlVersion} (control)`,
    `stage       ${r.stageIndex + 1}/${r.stages.length} at ${r.canaryPercent}% since ${r.stageStartedAt} (stages ${r.stages.join(', ')}%; min ${r.minStageSeconds} s, ${r.minSamples} exposed canary devices)`,
    `generations canary ${cell(r.canaryGeneration)}, control ${cell(r.controlGeneration)}`,
  ];
  if (r.shadow) {
    const s = r.shadowReport;
    const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
    lines.push(`shadow      v${r.shadow.version} on ${pct(r.shadow.sampleRate)} of inferences${s ? `: ${s.comparisons} compared on ${s.devices} devices, agreement ${pct(s.agreementRate)}, latency ${s.latencyDeltaMs === null ? '-' : `${s.latencyDeltaMs >= 0 ? '+' : ''}${s.latencyDeltaMs.toFixed(1)} ms`}` : ''}`);
  }
  const v = r.lastVerdict as { verdict?: string; at?: string; reasons?: string[]; metrics?: { metric: string; outcome: string; detail: string }[] } | null;
  if (v) {
    lines.push(`verdict     ${v.verdict} at ${v.at}`);
    for (const m of v.metrics ?? []) lines.push(`  ${m.metric.padEnd(11)} ${m.outcome.padEnd(12)} ${m.detail}`);
    for (const reason of v.reasons ?? []) lines.push(`  - ${reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Parses "5,25,50,100". */
export function parseStages(raw: string): number[] {
  const stages = raw.split(',').map((s) => parseNumberFlag('--stages', s.trim()));
  if (stages.some((p, i) => !(p > 0 && p <= 100) || (i > 0 && p <= stages[i - 1]))) throw new UsageError(`--stages must be increasing percentages in (0, 100], e.g. 5,25,50,100; got ${raw}`);
  return stages;
}

export function registerRolloutCommands(program: Command, io: CliIo): void {
  const rollout = program.command('rollout').description('roll a candidate model out to canary cohorts; pause, resume, promote or abort');

  withConnectionOptions(
    rollout.command('start').description('start a staged canary rollout of a candidate version')
      .requiredOption('--app <app>', 'app name')
      .requiredOption('--candidate <version>', 'candidate model version')
      .option('--stages <list>', 'canary percentages per stage (default 5,25,50,100)')
      .option('--min-stage-seconds <s>', 'minimum time per stage (default 3600)')
      .option('--min-samples <n>', 'minimum exposed canary devices per stage (default 50)')
      .option('--metrics-json <json>', 'per-metric overrides, e.g. \'{"accuracy":{"threshold":0.01}}\'')
      .option('--shadow-version <version>', 'also run this version as a shadow (compared, never shown)')
      .option('--shadow-sample-rate <rate>', 'share of inferences run on the shadow, in (0, 1] (default 0.1)')
      .option('--json', 'print JSON'),
  ).action(async (flags: StartFlags) => {
    const body: Record<string, unknown> = { app: flags.app, candidateVersion: parseIntegerFlag('--candidate', flags.candidate) };
    if (flags.stages) body.stages = parseStages(flags.stages);
    if (flags.minStageSeconds) body.minStageSeconds = parseNumberFlag('--min-stage-seconds', flags.minStageSeconds);
    if (flags.minSamples) body.minSamples = parseIntegerFlag('--min-samples', flags.minSamples);
    if (flags.metricsJson) {
      try {
        body.metrics = JSON.parse(flags.metricsJson);
      } catch (error) {
        throw new UsageError(`--metrics-json is not valid JSON (${(error as Error).message})`);
      }
    }
    if (flags.shadowVersion) {
      const sampleRate = flags.shadowSampleRate ? parseNumberFlag('--shadow-sample-rate', flags.shadowSampleRate) : 0.1;
      if (!(sampleRate > 0 && sampleRate <= 1)) throw new UsageError(`--shadow-sample-rate must be in (0, 1], e.g. 0.1; got ${flags.shadowSampleRate}`);
      body.shadow = { version: parseIntegerFlag('--shadow-version', flags.shadowVersion), sampleRate };
    } else if (flags.shadowSampleRate) {
      throw new UsageError('--shadow-sample-rate needs --shadow-version');
    }
    const r = await adminRequest(resolveConnection(flags), { method: 'POST', path: '/v1/admin/rollouts', json: body, schema: RolloutViewSchema });
    io.out(flags.json ? `${JSON.stringify(r)}\n` : `started rollout ${r.id}\n${describeRollout(r)}`);
  });

  withConnectionOptions(rollout.command('list').description('rollouts, newest first').option('--app <app>', 'only this app').option('--json', 'print JSON')).action(async (flags: ListFlags) => {
    const query = flags.app ? `?app=${encodeURIComponent(flags.app)}` : '';
    const { rollouts } = await adminRequest(resolveConnection(flags), { method: 'GET', path: `/v1/admin/rollouts${query}`, schema: z.object({ rollouts: z.array(RolloutViewSchema) }) });
    if (flags.json) return io.out(`${JSON.stringify(rollouts)}\n`);
    if (rollouts.length === 0) return io.out('no rollouts yet; start one with "flock rollout start --app NAME --candidate N"\n');
    io.out(renderTable(['id', 'app', 'candidate', 'control', 'status', 'stage', 'verdict'], rollouts.map((r) => [
      r.id, r.app, `v${r.candidateVersion}`, `v${r.controlVersion}`, r.status, `${r.canaryPercent}%`, cell((r.lastVerdict as { verdict?: string } | null)?.verdict ?? null),
    ])));
  });

  withConnectionOptions(rollout.command('show').description('one rollout with its latest verdict and evidence').argument('<id>', 'rollout id').option('--json', 'print JSON')).action(async (id: string, flags: OneFlags) => {
    const r = await adminRequest(resolveConnection(flags), { method: 'GET', path: `/v1/admin/rollouts/${encodeURIComponent(id)}`, schema: ShowSchema });
    io.out(flags.json ? `${JSON.stringify(r)}\n` : describeRollout(r));
  });

  for (const action of ['pause', 'resume', 'promote', 'abort'] as const) {
    withConnectionOptions(rollout.command(action).description(`${action} a rollout`).argument('<id>', 'rollout id').option('--json', 'print JSON')).action(async (id: string, flags: OneFlags) => {
      const r = await adminRequest(resolveConnection(flags), { method: 'POST', path: `/v1/admin/rollouts/${encodeURIComponent(id)}/${action}`, schema: RolloutViewSchema });
      io.out(flags.json ? `${JSON.stringify(r)}\n` : describeRollout(r));
    });
  }
}
