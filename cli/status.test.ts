/**
 * `flock status` through the real bin against a real coordinator: where it
 * is, its store and backend, whether the key works, the version in
 * production of every app (also apps with no task or rollout), active tasks
 * and running rollouts; simulator apps with nothing active are counted, not
 * listed.
 */
import { serve } from '@hono/node-server';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMnistModel } from '../shared/model/index.ts';
import { createCoordinator, type Coordinator } from '../coordinator/coordinator.ts';
import { writeModelDirectory } from '../coordinator/registry/index.ts';
import { generateAdminKey } from './admin-key.ts';
import { main } from './index.ts';
import type { StatusReport } from './status.ts';

const bin = fileURLToPath(new URL('../bin/flock.js', import.meta.url));
let tmp: string;
let coordinator: Coordinator;
let server: ReturnType<typeof serve>;
let url: string;
let taskId: string;
let rolloutId: string;

function flock(
  args: string[],
  adminKey = coordinator.initialAdminKey!,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [bin, ...args, '--url', url, '--admin-key', adminKey],
      { env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 },
      (error, stdout, stderr) =>
        done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Setup goes through the CLI in this process (faster than a child per step). */
async function admin(...args: string[]): Promise<string> {
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
  return out;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flock-cli-status-'));
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
  await admin('model', 'push', model, '--app', 'digits', '--stage', 'production');
  await admin('model', 'push', model, '--app', 'digits');
  await admin('model', 'push', model, '--app', 'inbox');
  await admin('model', 'push', model, '--app', 'sim-0badc0de', '--stage', 'production');
  taskId = (
    JSON.parse(
      await admin('task', 'create', '--app', 'digits', '--model-version', '1', '--plan-json', '{"population": 100}'),
    ) as { id: string }
  ).id;
  rolloutId = (JSON.parse(await admin('rollout', 'start', '--app', 'digits', '--candidate', '2')) as { id: string }).id;
}, 90_000);

afterAll(async () => {
  server?.close();
  if (server && 'closeAllConnections' in server) server.closeAllConnections();
  await coordinator?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('flock status', () => {
  it('prints where the coordinator is, its store and backend, the key, every app in production, active tasks and rollouts', async () => {
    const { code, stdout, stderr } = await flock(['status']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual([
      `coordinator ${url}: ok, flock 0.1.0 (protocol 1)`,
      '  store: sqlite, aggregation backend: cpu on CPU (JavaScript)',
      '  admin key: accepted',
    ]);
    expect(stdout).toMatch(
      /\napp\s+in production\ndigits\s+v1\ninbox\s+none\n\(and 1 simulator app from flock simulate, with nothing active\)\n/,
    );
    expect(stdout).toMatch(
      new RegExp(`\\nactive task\\s+app\\s+name\\s+rounds\\n${taskId}\\s+digits\\s+digits from v1\\s+0\\n`),
    );
    expect(stdout).toMatch(
      new RegExp(
        `\\nrollout\\s+app\\s+candidate\\s+control\\s+canary %\\s+status\\n${rolloutId}\\s+digits\\s+v2\\s+v1\\s+5\\s+running\\n`,
      ),
    );
  });

  it('--json carries the same report', async () => {
    const { code, stdout } = await flock(['status', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as StatusReport;
    expect(report).toMatchObject({
      url,
      adminKey: 'accepted',
      health: { status: 'ok', store: 'sqlite', aggregationBackend: 'cpu' },
      production: [
        { app: 'digits', version: 1 },
        { app: 'inbox', version: null },
      ],
      hiddenSimulatorApps: 1,
      activeTasks: [{ id: taskId, app: 'digits', rounds: 0 }],
      runningRollouts: [
        { id: rolloutId, app: 'digits', candidateVersion: 2, controlVersion: 1, canaryPercent: 5, status: 'running' },
      ],
    });
  });

  it('a refused key: the coordinator part still prints, the key is named refused, exit 1', async () => {
    const { code, stdout, stderr } = await flock(['status'], generateAdminKey());
    expect(stdout).toMatch(/^coordinator .*: ok,/);
    expect(stdout).toMatch(/admin key: refused \(check --admin-key \/ FLOCK_ADMIN_KEY\)\n$/);
    expect(stderr).toMatch(/^error: unauthorized/);
    expect(code).toBe(1);
  });

  it('an unreachable coordinator: exit 1 naming the URL', async () => {
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((done) => {
      execFile(
        process.execPath,
        [bin, 'status', '--url', 'http://127.0.0.1:1', '--admin-key', 'k'],
        { env: { ...process.env, NODE_OPTIONS: '' } },
        (error, _stdout, stderr) => done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: .*http:\/\/127\.0\.0\.1:1/);
  });
});
