/**
 * `--json` on every command that reads or changes something: one JSON value
 * on stdout and nothing else, through the real bin against a real
 * coordinator. Lists print arrays, single things print objects.
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
import { buildProgram, main } from './index.ts';

const bin = fileURLToPath(new URL('../bin/flock.js', import.meta.url));
let tmp: string;
let coordinator: Coordinator;
let server: ReturnType<typeof serve>;
let url: string;
let taskId: string;
let rolloutId: string;

function flock(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [bin, ...args, '--json'],
      {
        env: { ...process.env, NODE_OPTIONS: '', FLOCK_URL: url, FLOCK_ADMIN_KEY: coordinator.initialAdminKey! },
        timeout: 60_000,
      },
      (error, stdout, stderr) =>
        done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function setup(...args: string[]): Promise<{ id: string }> {
  let out = '';
  let err = '';
  const code = await main(
    ['node', 'flock', ...args, '--url', url, '--admin-key', coordinator.initialAdminKey!, '--json'],
    {
      out: (t) => {
        out += t;
      },
      err: (t) => {
        err += t;
      },
    },
  );
  if (code !== 0) throw new Error(`flock ${args.join(' ')}: ${err}`);
  return JSON.parse(out) as { id: string };
}

function leaves(cmd: Command, path: string[] = []): { path: string; command: Command }[] {
  if (cmd.commands.length === 0) return [{ path: path.join(' '), command: cmd }];
  return cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]));
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flock-cli-json-'));
  coordinator = await createCoordinator({
    dataDir: join(tmp, 'data'),
    log: pino({ level: 'silent' }),
    sweep: false,
    aggregationBackend: 'cpu',
  });
  server = serve({ fetch: coordinator.app.fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const model = join(tmp, 'model');
  await writeModelDirectory(createMnistModel('mlp-small', { seed: 3 }), model);
  await setup('model', 'push', model, '--app', 'digits', '--stage', 'production');
  await setup('model', 'push', model, '--app', 'digits');
  taskId = (
    await setup('task', 'create', '--app', 'digits', '--model-version', '1', '--plan-json', '{"population": 100}')
  ).id;
  rolloutId = (await setup('rollout', 'start', '--app', 'digits', '--candidate', '2')).id;
  // A rollout and a bandit cannot share an app.
  await setup('model', 'push', model, '--app', 'inbox', '--stage', 'production');
  await setup('model', 'push', model, '--app', 'inbox');
  await setup('bandit', 'start', '--app', 'inbox', '--versions', '1,2');
}, 90_000);

afterAll(async () => {
  server?.close();
  if (server && 'closeAllConnections' in server) server.closeAllConnections();
  await coordinator?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('--json', () => {
  it('every command has it, except serve (a server) and admin-key (stdout is the key alone)', () => {
    const without = leaves(buildProgram())
      .filter((c) => !c.command.options.some((o) => o.long === '--json'))
      .map((c) => c.path);
    expect(without).toEqual(['serve', 'admin-key']);
  });

  it.each([
    [['task', 'list'], 'array'],
    [['task', 'show', '<task>'], 'object'],
    [['task', 'rounds', '<task>'], 'array'],
    [['rollout', 'list'], 'array'],
    [['rollout', 'show', '<rollout>'], 'object'],
    [['model', 'list', '--app', 'digits'], 'array'],
    [['model', 'show', '--app', 'digits', '--version', '2'], 'object'],
    [['bandit', 'show', '--app', 'inbox'], 'object'],
    [['status'], 'object'],
    [
      [
        'privacy',
        'epsilon',
        '--sampling-rate',
        '0.01',
        '--noise-multiplier',
        '1.1',
        '--steps',
        '100',
        '--delta',
        '1e-5',
      ],
      'object',
    ],
    [['privacy', 'noise', '--sampling-rate', '0.01', '--steps', '100', '--delta', '1e-5', '--epsilon', '3'], 'object'],
  ])('flock %j --json prints one JSON %s', async (args, kind) => {
    const { code, stdout, stderr } = await flock(
      args.map((a) => (a === '<task>' ? taskId : a === '<rollout>' ? rolloutId : a)),
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.endsWith('\n')).toBe(true);
    expect(stdout.trimEnd()).not.toContain('\n');
    const value = JSON.parse(stdout) as unknown;
    expect(Array.isArray(value) ? 'array' : typeof value).toBe(kind);
    // The task has no rounds yet; every other list has what the setup made.
    if (Array.isArray(value) && args[1] !== 'rounds') expect(value.length).toBeGreaterThan(0);
  });
});
