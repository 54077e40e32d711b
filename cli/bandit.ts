/**
 * `flock bandit start|show|reallocate|stop`: bandit mode from the terminal,
 * through the admin API (Thompson sampling over labelled feedback).
 *
 * @example
 * // flock bandit start --app digits --versions 3,4 --reallocate-seconds 600
 */
import type { Command } from 'commander';
import { z } from 'zod';
import type { CliIo } from './index.ts';
import { adminRequest, renderTable, resolveConnection, withConnectionOptions, type ConnectionFlags } from './admin-http.ts';
import { UsageError } from './usage-error.ts';

// Loose objects: `--json` prints what the coordinator answered, not only the fields the table needs.
const BanditSchema = z.looseObject({
  app: z.string(),
  status: z.string(),
  state: z.looseObject({ id: z.string(), versions: z.array(z.number()), shares: z.array(z.number()), reallocations: z.number(), reallocatedAt: z.string() }),
  generations: z.array(z.number()),
  startedAt: z.string(),
  reallocateSeconds: z.number(),
  rewards: z.array(z.looseObject({ version: z.number(), successes: z.number(), failures: z.number(), outcomes: z.number().optional() })),
});
type Bandit = z.infer<typeof BanditSchema>;

type Flags = ConnectionFlags & { app: string; json?: boolean };

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
    return [`v${version}`, `${(100 * b.state.shares[arm]).toFixed(1)}%`, String(Math.round(sent)), weighed ? `${((100 * r!.successes) / weighed).toFixed(1)}%` : '-'];
  });
  return `bandit ${b.state.id} for ${b.app}: ${b.status}, ${b.state.reallocations} reallocation(s), last ${b.state.reallocatedAt}\n` + renderTable(['version', 'traffic', 'feedback', 'correct'], rows);
}

function parseVersions(raw: string): number[] {
  const versions = raw.split(',').map((s) => Number(s.trim()));
  if (versions.length < 2 || versions.some((v) => !Number.isInteger(v) || v < 1)) throw new UsageError(`--versions must list at least two version numbers, e.g. 3,4; got "${raw}"`);
  return versions;
}

export function registerBanditCommands(program: Command, io: CliIo): void {
  const bandit = program.command('bandit').description('bandit mode: Thompson sampling allocates traffic between versions by labelled feedback');
  const print = (b: Bandit, json?: boolean) => io.out(json ? `${JSON.stringify(b)}\n` : describeBandit(b));

  withConnectionOptions(bandit.command('start').description('start splitting an app\'s traffic between versions')
    .requiredOption('--app <app>', 'app name').requiredOption('--versions <list>', 'versions, e.g. 3,4')
    .option('--reallocate-seconds <s>', 'seconds between reallocations (default 300)').option('--json', 'print JSON'))
    .action(async (flags: Flags & { versions: string; reallocateSeconds?: string }) => {
      const body: Record<string, unknown> = { app: flags.app, versions: parseVersions(flags.versions) };
      if (flags.reallocateSeconds !== undefined) {
        const s = Number(flags.reallocateSeconds);
        if (!Number.isInteger(s) || s < 1) throw new UsageError(`--reallocate-seconds must be a positive integer, got "${flags.reallocateSeconds}"`);
        body.reallocateSeconds = s;
      }
      print(await adminRequest(resolveConnection(flags), { method: 'POST', path: '/v1/admin/bandits', json: body, schema: BanditSchema }), flags.json);
    });

  for (const [name, method, suffix, description] of [
    ['show', 'GET', '', 'allocation and rewards'],
    ['reallocate', 'POST', '/reallocate', 'reallocate now from the feedback so far'],
    ['stop', 'POST', '/stop', 'stop; devices return to the production version'],
  ] as const) {
    withConnectionOptions(bandit.command(name).description(description).requiredOption('--app <app>', 'app name').option('--json', 'print JSON'))
      .action(async (flags: Flags) => {
        print(await adminRequest(resolveConnection(flags), { method, path: `/v1/admin/bandits/${encodeURIComponent(flags.app)}${suffix}`, schema: BanditSchema }), flags.json);
      });
  }
}
