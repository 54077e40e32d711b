import { serve } from '@hono/node-server';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../coordinator/coordinator.ts';
import { mnistModelFiles, pushModel, testAdminKey } from '../coordinator/routes/fleet.fixture.ts';
import { describeBandit } from './bandit.ts';
import { main, type CliIo } from './index.ts';

function capture(): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), stdout: () => out, stderr: () => err };
}

const adminKey = testAdminKey();
let tmp: string;
let coordinator: Coordinator;
let server: ReturnType<typeof serve>;
let url: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flock-cli-bandit-'));
  coordinator = await createCoordinator({
    dataDir: join(tmp, 'data'),
    adminKey,
    log: pino({ level: 'silent' }),
    sweep: false,
    aggregationBackend: 'cpu',
  });
  server = serve({ fetch: coordinator.app.fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const files = await mnistModelFiles('mlp-small');
  const f = async (path: string, init?: RequestInit) => coordinator.app.request(path, init);
  expect((await pushModel(f, adminKey, 'digits', files, 'production')).status).toBe(201);
  expect((await pushModel(f, adminKey, 'digits', files)).status).toBe(201);
}, 60_000);

afterAll(async () => {
  server?.close();
  if (server && 'closeAllConnections' in server) server.closeAllConnections();
  await coordinator?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('flock bandit', () => {
  it('refuses a single version or junk before calling the coordinator (exit 2)', async () => {
    for (const versions of ['3', '3,x', '0,1']) {
      const io = capture();
      const code = await main(
        [
          'node',
          'flock',
          'bandit',
          'start',
          '--app',
          'digits',
          '--versions',
          versions,
          '--admin-key',
          'flk_admin_key_x.' + 'a'.repeat(43),
          '--url',
          'http://127.0.0.1:9',
        ],
        io,
      );
      expect(code).toBe(2);
      expect(io.stderr()).toMatch(/--versions/);
    }
  });

  it('describes arms with traffic share, outcomes sent and the accuracy the bandit weighs', () => {
    const text = describeBandit({
      app: 'digits',
      status: 'running',
      state: {
        id: 'bd_1',
        versions: [1, 2],
        shares: [0.25, 0.75],
        reallocations: 2,
        reallocatedAt: '2026-11-29T00:00:00.000Z',
      },
      rewards: [{ version: 2, successes: 90, failures: 10, outcomes: 43_080 }],
    });
    expect(text).toMatch(/v1\s+25\.0%\s+0\s+-/);
    expect(text).toMatch(/v2\s+75\.0%\s+43080\s+90\.0%/);
  });

  it('start --json prints the whole bandit, generations, start time and interval included', async () => {
    const io = capture();
    const code = await main(
      [
        'node',
        'flock',
        'bandit',
        'start',
        '--app',
        'digits',
        '--versions',
        '1,2',
        '--reallocate-seconds',
        '600',
        '--json',
        '--url',
        url,
        '--admin-key',
        adminKey,
      ],
      io,
    );
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    const printed = JSON.parse(io.stdout()) as Record<string, unknown>;
    expect(printed).toMatchObject({ app: 'digits', status: 'running', reallocateSeconds: 600 });
    expect(printed.generations).toEqual([expect.any(Number), expect.any(Number)]);
    expect(Date.parse(String(printed.startedAt))).not.toBeNaN();
    const shown = capture();
    expect(
      await main(
        ['node', 'flock', 'bandit', 'show', '--app', 'digits', '--json', '--url', url, '--admin-key', adminKey],
        shown,
      ),
    ).toBe(0);
    expect(JSON.parse(shown.stdout())).toMatchObject({
      generations: printed.generations,
      startedAt: printed.startedAt,
      reallocateSeconds: 600,
    });
  }, 30_000);
});
