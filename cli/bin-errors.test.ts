/**
 * The real `flock` bin tells the truth about mistakes: a misspelt flag is
 * named (with the nearest known one) on every subcommand, exit 2; an id that
 * does not exist is an error naming it, exit 1, on every command that takes
 * one; a refused admin key costs no upload.
 */
import { serve } from '@hono/node-server';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMnistModel } from '../shared/model/index.ts';
import { createCoordinator, type Coordinator } from '../coordinator/coordinator.ts';
import { writeModelDirectory } from '../coordinator/registry/index.ts';
import { generateAdminKey } from './admin-key.ts';
import { buildProgram } from './index.ts';

const bin = fileURLToPath(new URL('../bin/flock.js', import.meta.url));

let tmp: string;
let coordinator: Coordinator;
let server: ReturnType<typeof serve>;
let url: string;
const seen: string[] = [];

function flock(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, NODE_OPTIONS: '', FLOCK_URL: '', FLOCK_ADMIN_KEY: '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) =>
        done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Every command without subcommands, as its words after `flock`. */
function leaves(cmd: Command, path: string[] = []): { path: string[]; command: Command }[] {
  if (cmd.commands.length === 0) return [{ path, command: cmd }];
  return cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]));
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flock-bin-errors-'));
  coordinator = await createCoordinator({
    dataDir: join(tmp, 'data'),
    log: pino({ level: 'silent' }),
    sweep: false,
    aggregationBackend: 'cpu',
  });
  server = serve({
    fetch: (request: Request) => {
      seen.push(`${request.method} ${new URL(request.url).pathname}`);
      return coordinator.app.fetch(request);
    },
    port: 0,
    hostname: '127.0.0.1',
  });
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await writeModelDirectory(createMnistModel('mlp-small', { seed: 3 }), join(tmp, 'model'));
}, 60_000);

afterAll(async () => {
  server?.close();
  if (server && 'closeAllConnections' in server) server.closeAllConnections();
  await coordinator?.close();
  await rm(tmp, { recursive: true, force: true });
});

const commands = leaves(buildProgram());

describe('a misspelt flag is named, with the nearest known one, on every subcommand', () => {
  it('covers every command the program has', () => {
    expect(commands.map((c) => c.path.join(' '))).toEqual(
      expect.arrayContaining([
        'serve',
        'simulate',
        'status',
        'admin-key',
        'privacy epsilon',
        'model push',
        'task rounds',
        'rollout start',
        'bandit show',
      ]),
    );
  });

  it.each(commands.map((c) => [c.path.join(' '), c] as const))('flock %s', async (_name, { path, command }) => {
    const known = command.options
      .map((o) => o.long)
      .filter((l): l is string => l !== undefined && !l.startsWith('--no-'));
    const flag = known[0] ?? '--help';
    const misspelt = `${flag}${flag.at(-1)}`; // --app -> --appp
    const { code, stdout, stderr } = await flock([...path, misspelt, 'x']);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toBe(
      `error: unknown option '${misspelt}' for 'flock ${path.join(' ')}' (did you mean ${flag}?)`,
    );
    expect(code).toBe(2);
  });

  it('flock --verison suggests --version', async () => {
    const { code, stderr } = await flock(['--verison']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error: unknown option '--verison' for 'flock' \(did you mean --version\?\)/);
  });
});

describe('an id that does not exist is an error naming it (exit 1)', () => {
  it.each([
    [['task', 'show', 'task_nope'], /not_found: no task task_nope/],
    [['task', 'pause', 'task_nope'], /not_found: no task task_nope/],
    [['task', 'resume', 'task_nope'], /not_found: no task task_nope/],
    [['task', 'rounds', 'task_nope'], /not_found: no task task_nope/],
    [
      ['task', 'create', '--app', 'digits', '--model-version', '9', '--plan-json', '{"population": 10}'],
      /not_found: model digits has no version 9/,
    ],
    [['rollout', 'show', 'ro_nope'], /not_found: no rollout ro_nope/],
    [['rollout', 'pause', 'ro_nope'], /not_found: no rollout ro_nope/],
    [['rollout', 'resume', 'ro_nope'], /not_found: no rollout ro_nope/],
    [['rollout', 'promote', 'ro_nope'], /not_found: no rollout ro_nope/],
    [['rollout', 'abort', 'ro_nope'], /not_found: no rollout ro_nope/],
    [['rollout', 'start', '--app', 'digits', '--candidate', '9'], /not_found: model digits has no version 9/],
    [['model', 'show', '--app', 'digits', '--version', '9'], /not_found: model digits has no version 9/],
    [
      ['model', 'stage', '--app', 'digits', '--version', '9', '--to', 'production'],
      /not_found: model digits has no version 9/,
    ],
    [['bandit', 'show', '--app', 'nope'], /not_found: app nope has no bandit/],
    [['bandit', 'reallocate', '--app', 'nope'], /not_found: app nope runs no bandit/],
    [['bandit', 'stop', '--app', 'nope'], /not_found: app nope runs no bandit/],
    [['bandit', 'start', '--app', 'nope', '--versions', '1,2'], /not_found: model nope has no version 1/],
  ])('flock %j', async (args, message) => {
    const { code, stdout, stderr } = await flock([...args, '--url', url, '--admin-key', coordinator.initialAdminKey!]);
    expect(stdout).toBe('');
    expect(stderr).toMatch(new RegExp(`^error: ${message.source}`));
    expect(code).toBe(1);
  });
});

describe('a list filtered to an app with nothing says which app', () => {
  it.each([
    [['task', 'list', '--app', 'nope'], /^no tasks for app nope; create one with "flock task create --app nope /],
    [
      ['rollout', 'list', '--app', 'nope'],
      /^no rollouts for app nope; start one with "flock rollout start --app nope /,
    ],
  ])('flock %j', async (args, message) => {
    const { code, stdout } = await flock([...args, '--url', url, '--admin-key', coordinator.initialAdminKey!]);
    expect(stdout).toMatch(message);
    expect(code).toBe(0);
  });
});

describe('credentials before uploads', () => {
  it('model push with a refused key sends no model bytes: one small read, then unauthorized', async () => {
    seen.length = 0;
    const { code, stdout, stderr } = await flock(['model', 'push', join(tmp, 'model'), '--app', 'digits'], {
      FLOCK_URL: url,
      FLOCK_ADMIN_KEY: generateAdminKey(),
    });
    expect(stderr).toMatch(/^error: unauthorized: .*check --admin-key \/ FLOCK_ADMIN_KEY/);
    expect(stderr).not.toMatch(/uploading/);
    expect(stdout).toBe('');
    expect(code).toBe(1);
    expect(seen).toEqual(['GET /v1/admin/models/digits/versions']);
    // With the right key the same command does upload (so the check above can fail).
    seen.length = 0;
    const pushed = await flock(['model', 'push', join(tmp, 'model'), '--app', 'digits', '--json'], {
      FLOCK_URL: url,
      FLOCK_ADMIN_KEY: coordinator.initialAdminKey!,
    });
    expect(pushed.code).toBe(0);
    expect(seen).toEqual(['GET /v1/admin/models/digits/versions', 'POST /v1/admin/models/digits']);
  });
});
