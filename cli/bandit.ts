/**
 * What `flock bandit start|show|reallocate|stop` do, through the admin API
 * (Thompson sampling over labelled feedback). Their flags are in
 * bandit-commands.ts, which loads this file only when one runs.
 *
 * @example
 * // flock bandit start --app digits --versions 3,4 --reallocate-seconds 600
 */
import { z } from 'zod';
import type { CliIo } from './index.ts';
import type { InferRequestType } from 'hono/client';
import type { AdminApi } from '../coordinator/admin-client.ts';
import { adminRequest, renderTable, resolveConnection, type ConnectionFlags } from './admin-http.ts';
import { UsageError } from './usage-error.ts';

// Loose objects: `--json` prints what the coordinator answered, not only the fields the table needs.
const BanditSchema = z.looseObject({
  app: z.string(),
  status: z.string(),
  state: z.looseObject({
    id: z.string(),
    versions: z.array(z.number()),
    shares: z.array(z.number()),
    reallocations: z.number(),
    reallocatedAt: z.string(),
  }),
  generations: z.array(z.number()),
  startedAt: z.string(),
  reallocateSeconds: z.number(),
  rewards: z.array(
    z.looseObject({
      version: z.number(),
      successes: z.number(),
      failures: z.number(),
      outcomes: z.number().optional(),
    }),
  ),
});
type Bandit = z.infer<typeof BanditSchema>;

export type BanditFlags = ConnectionFlags & { app: string; json?: boolean };
export type StartFlags = BanditFlags & { versions: string; reallocateSeconds?: string };

/**
 * Human summary: one row per arm. `feedback` is every outcome devices sent
 * for the arm; `correct` is the rate Thompson sampling uses (each device
 * weighed at most MAX_FEEDBACK_PER_DEVICE outcomes).
 */
export function describeBandit(b: Pick<Bandit, 'app' | 'status' | 'state' | 'rewards'>): string {
  const rows = b.state.versions.map((version, arm) => {
    const r = b.rewards.find((x) => x.version === version);
    const weighed = r ? r.successes + r.failures : 0;
    const sent = r?.outcomes ?? weighed;
    return [
      `v${version}`,
      `${(100 * b.state.shares[arm]).toFixed(1)}%`,
      String(Math.round(sent)),
      weighed ? `${((100 * r!.successes) / weighed).toFixed(1)}%` : '-',
    ];
  });
  return (
    `bandit ${b.state.id} for ${b.app}: ${b.status}, ${b.state.reallocations} reallocation(s), last ${b.state.reallocatedAt}\n` +
    renderTable(['version', 'traffic', 'feedback', 'correct'], rows)
  );
}

function parseVersions(raw: string): number[] {
  const versions = raw.split(',').map((s) => Number(s.trim()));
  if (versions.length < 2 || versions.some((v) => !Number.isInteger(v) || v < 1))
    throw new UsageError(`--versions must list at least two version numbers, e.g. 3,4; got "${raw}"`);
  return versions;
}

const print = (io: CliIo, b: Bandit, json?: boolean) => io.out(json ? `${JSON.stringify(b)}\n` : describeBandit(b));

/** The body of `POST /v1/admin/bandits`, as the route types it. */
type BanditStart = InferRequestType<AdminApi['v1']['admin']['bandits']['$post']>['json'];

/** `flock bandit start --app APP --versions 3,4`. */
export async function startBandit(flags: StartFlags, io: CliIo): Promise<void> {
  const body: BanditStart = { app: flags.app, versions: parseVersions(flags.versions) };
  if (flags.reallocateSeconds !== undefined) {
    const s = Number(flags.reallocateSeconds);
    if (!Number.isInteger(s) || s < 1)
      throw new UsageError(`--reallocate-seconds must be a positive integer, got "${flags.reallocateSeconds}"`);
    body.reallocateSeconds = s;
  }
  print(
    io,
    await adminRequest(resolveConnection(flags), {
      call: (api) => api.v1.admin.bandits.$post({ json: body }),
      schema: BanditSchema,
    }),
    flags.json,
  );
}

/** `flock bandit show|reallocate|stop --app APP`. */
export async function actOnBandit(
  action: 'show' | 'reallocate' | 'stop',
  flags: BanditFlags,
  io: CliIo,
): Promise<void> {
  const param = { app: encodeURIComponent(flags.app) };
  print(
    io,
    await adminRequest(resolveConnection(flags), {
      call: (api) =>
        action === 'show'
          ? api.v1.admin.bandits[':app'].$get({ param })
          : api.v1.admin.bandits[':app'][action].$post({ param }),
      schema: BanditSchema,
    }),
    flags.json,
  );
}
