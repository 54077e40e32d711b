/**
 * What `flock rollout start|list|show|pause|resume|promote|abort` do, through
 * the admin API (their flags are in rollout-commands.ts, which loads this
 * file only when one runs).
 *
 * @example
 * // flock rollout start --app digits --candidate 2 --stages 5,25,50,100 --min-stage-seconds 3600
 */
import { z } from 'zod';
import { RolloutViewSchema, type RolloutView } from '../shared/protocol/rollouts.ts';
import type { InferRequestType } from 'hono/client';
import type { AdminApi } from '../coordinator/admin-client.ts';
import { adminRequest, cell, renderTable, resolveConnection, type ConnectionFlags } from './admin-http.ts';
import { describeVerdict } from './rollout-verdict.ts';
import type { CliIo } from './index.ts';
import { parseIntegerFlag, parseNumberFlag, UsageError } from './usage-error.ts';

const ShadowReportSchema = z.object({
  shadowVersion: z.number(),
  comparisons: z.number(),
  devices: z.number(),
  agreementRate: z.number().nullable(),
  latencyDeltaMs: z.number().nullable(),
});
const ShowSchema = RolloutViewSchema.extend({
  drift: z.record(z.string(), z.unknown()).optional(),
  shadowReport: ShadowReportSchema.nullable().optional(),
});

export interface StartFlags extends ConnectionFlags {
  app: string;
  candidate: string;
  stages?: string;
  minStageSeconds?: string;
  minSamples?: string;
  metricsJson?: string;
  shadowVersion?: string;
  shadowSampleRate?: string;
  json?: boolean;
}
export interface ListFlags extends ConnectionFlags {
  app?: string;
  json?: boolean;
}
export interface OneFlags extends ConnectionFlags {
  json?: boolean;
}
/** An operator action's flags: `--reason` goes to the audit entry. */
export interface ActionFlags extends OneFlags {
  reason?: string;
}

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
    lines.push(
      `shadow      v${r.shadow.version} on ${pct(r.shadow.sampleRate)} of inferences${s ? `: ${s.comparisons} compared on ${s.devices} devices, agreement ${pct(s.agreementRate)}, latency ${s.latencyDeltaMs === null ? '-' : `${s.latencyDeltaMs >= 0 ? '+' : ''}${s.latencyDeltaMs.toFixed(1)} ms`}` : ''}`,
    );
  }
  lines.push(...describeVerdict(r.lastVerdict));
  return `${lines.join('\n')}\n`;
}

/** Parses "5,25,50,100". */
export function parseStages(raw: string): number[] {
  const stages = raw.split(',').map((s) => parseNumberFlag('--stages', s.trim()));
  if (stages.some((p, i) => !(p > 0 && p <= 100) || (i > 0 && p <= stages[i - 1])))
    throw new UsageError(`--stages must be increasing percentages in (0, 100], e.g. 5,25,50,100; got ${raw}`);
  return stages;
}

/** The body of `POST /v1/admin/rollouts`, as the route types it. */
type RolloutStart = InferRequestType<AdminApi['v1']['admin']['rollouts']['$post']>['json'];

/** `flock rollout start`. */
export async function startRollout(flags: StartFlags, io: CliIo): Promise<void> {
  const body: RolloutStart = {
    app: flags.app,
    candidateVersion: parseIntegerFlag('--candidate', flags.candidate),
  };
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
    if (!(sampleRate > 0 && sampleRate <= 1))
      throw new UsageError(`--shadow-sample-rate must be in (0, 1], e.g. 0.1; got ${flags.shadowSampleRate}`);
    body.shadow = { version: parseIntegerFlag('--shadow-version', flags.shadowVersion), sampleRate };
  } else if (flags.shadowSampleRate) {
    throw new UsageError('--shadow-sample-rate needs --shadow-version');
  }
  const r = await adminRequest(resolveConnection(flags), {
    call: (api) => api.v1.admin.rollouts.$post({ json: body }),
    schema: RolloutViewSchema,
  });
  io.out(flags.json ? `${JSON.stringify(r)}\n` : `started rollout ${r.id}\n${describeRollout(r)}`);
}

/** `flock rollout list`. */
export async function listRollouts(flags: ListFlags, io: CliIo): Promise<void> {
  const { rollouts } = await adminRequest(resolveConnection(flags), {
    call: (api) => api.v1.admin.rollouts.$get({ query: flags.app ? { app: flags.app } : {} }),
    schema: z.object({ rollouts: z.array(RolloutViewSchema) }),
  });
  if (flags.json) return io.out(`${JSON.stringify(rollouts)}\n`);
  if (rollouts.length === 0)
    return io.out(
      `${flags.app ? `no rollouts for app ${flags.app}` : 'no rollouts yet'}; start one with "flock rollout start --app ${flags.app ?? 'NAME'} --candidate N"\n`,
    );
  io.out(
    renderTable(
      ['id', 'app', 'candidate', 'control', 'status', 'stage', 'verdict'],
      rollouts.map((r) => [
        r.id,
        r.app,
        `v${r.candidateVersion}`,
        `v${r.controlVersion}`,
        r.status,
        `${r.canaryPercent}%`,
        cell(r.lastVerdict?.verdict ?? null),
      ]),
    ),
  );
}

/** `flock rollout show ID`. */
export async function showRollout(id: string, flags: OneFlags, io: CliIo): Promise<void> {
  const r = await adminRequest(resolveConnection(flags), {
    call: (api) => api.v1.admin.rollouts[':id'].$get({ param: { id: encodeURIComponent(id) } }),
    schema: ShowSchema,
  });
  io.out(flags.json ? `${JSON.stringify(r)}\n` : describeRollout(r));
}

/** `flock rollout pause|resume|promote|abort ID`. */
export async function actOnRollout(
  action: 'pause' | 'resume' | 'promote' | 'abort',
  id: string,
  flags: ActionFlags,
  io: CliIo,
): Promise<void> {
  const r = await adminRequest(resolveConnection(flags), {
    call: (api) =>
      api.v1.admin.rollouts[':id'][action].$post({
        param: { id: encodeURIComponent(id) },
        json: flags.reason === undefined ? {} : { reason: flags.reason },
      }),
    schema: RolloutViewSchema,
  });
  io.out(flags.json ? `${JSON.stringify(r)}\n` : describeRollout(r));
}
