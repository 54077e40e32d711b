import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createCoordinator } from '../coordinator/coordinator.ts';
import { createLogger } from '../coordinator/observability/logger.ts';
import { main } from './index.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'flock', 'simulate', ...args], { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('flock simulate flags', () => {
  it.each([
    [['--model', 'resnet'], /--model must be one of 2nn, cnn, mlp-small, got "resnet"/],
    [['--fraction', '0'], /--fraction must be in \(0, 1\], got "0"/],
    [['--fraction', '1.5'], /--fraction must be in \(0, 1\]/],
    [['--clients', 'ten'], /--clients must be a number, got "ten"/],
    [['--partition', 'zipf'], /--partition must be one of iid, pathological, dirichlet/],
    [['--encoding', 'int4'], /--encoding must be one of fp32, fp16, int8, topk/],
    [['--strategy', 'fedprox'], /--strategy must be one of fedavg/],
    [['--dataset', 'cifar10'], /--dataset must be one of mnist/],
    [['--eval-examples', '20000'], /--eval-examples must be at most 10000/],
    [['--noise-multiplier', '1'], /--noise-multiplier needs --clip-norm/],
    [['--plot', 'out.png'], /--plot writes SVG/],
    [['--url', 'ftp://example.org'], /--url must be an http\(s\) URL/],
    [['--url', 'not a url'], /--url must be an http\(s\) URL such as/],
    [['--admin-key', 'flk_admin_x.y'], /--admin-key only makes sense with --url/],
    [['--app', 'Bad App!'], /--app must be an app name/],
  ])('%j exits 2 with a clear message', async (args, message) => {
    const { code, err, out } = await run(args as string[]);
    expect(code).toBe(2);
    expect(err).toMatch(message as RegExp);
    expect(out).toBe('');
  });

  it('--url without an admin key exits 2', async () => {
    const saved = process.env.FLOCK_ADMIN_KEY;
    delete process.env.FLOCK_ADMIN_KEY;
    try {
      const { code, err } = await run(['--url', 'http://127.0.0.1:9']);
      expect(code).toBe(2);
      expect(err).toMatch(/--url needs an admin key/);
    } finally {
      if (saved !== undefined) process.env.FLOCK_ADMIN_KEY = saved;
    }
  });

  it('an unreachable --url fails with exit 1 and says so', async () => {
    const { code, err, out } = await run([
      '--url',
      'http://127.0.0.1:9',
      '--admin-key',
      'flk_admin_x.y',
      '--rounds',
      '1',
    ]);
    expect(code).toBe(1);
    expect(err).toMatch(/could not reach a coordinator at http:\/\/127\.0\.0\.1:9/);
    expect(out).toBe('');
  });

  it('an unknown flag exits 2', async () => {
    const { code, err } = await run(['--rouns', '3']);
    expect(code).toBe(2);
    expect(err).toMatch(/unknown option '--rouns'/);
  });
});

describe('flock simulate end to end', () => {
  it('trains 4 IID clients for 2 rounds: accuracy rises, JSON has roundsToTarget and finalAccuracy, the plot is written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flock-sim-test-'));
    try {
      const plot = join(dir, 'acc.svg');
      const { code, out, err } = await run([
        '--model',
        'mlp-small',
        '--clients',
        '4',
        '--fraction',
        '1',
        '--rounds',
        '2',
        '--partition',
        'iid',
        '--epochs',
        '1',
        '--batch',
        '10',
        '--lr',
        '0.1',
        '--train-examples',
        '2000',
        '--eval-examples',
        '1000',
        '--workers',
        '0',
        '--target',
        '0.5',
        '--plot',
        plot,
        '--json',
      ]);
      expect(err).not.toMatch(/error/);
      expect(code).toBe(0);
      const result = JSON.parse(out) as {
        history: { round: number; accuracy: number; reports: number; bytesUploadedPerClient: number }[];
        roundsToTarget: number | null;
        finalAccuracy: number;
        initialAccuracy: number;
      };
      expect(result.history.map((h) => h.round)).toEqual([0, 1, 2]);
      expect(result.history.slice(1).every((h) => h.reports === 4)).toBe(true);
      // fp32 update of 50,890 params: at least 4 bytes each.
      expect(result.history[1].bytesUploadedPerClient).toBeGreaterThan(50_890 * 4);
      expect(result.finalAccuracy).toBeGreaterThan(result.initialAccuracy + 0.3);
      expect(result.history[2].accuracy).toBe(result.finalAccuracy);
      expect(result).toHaveProperty('roundsToTarget');
      expect(result.roundsToTarget).toBeGreaterThan(0);
      expect(result.roundsToTarget).toBeLessThanOrEqual(2);
      expect(await readFile(plot, 'utf8')).toMatch(/^<svg/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('flock simulate --url', () => {
  it('drives a running coordinator over HTTP only: model, task and rounds land there, the task ends paused, registration 429s are waited out', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'flock-sim-remote-'));
    // 2 registrations per second per IP: the 4 virtual clients must wait for Retry-After.
    const flock = await createCoordinator({
      dataDir,
      log: createLogger({ level: 'silent' }),
      rateLimits: { registerPerIp: { limit: 2, windowMs: 1000 }, perDevice: { limit: 1e6, windowMs: 60_000 } },
    });
    const server = serve({ fetch: flock.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((ready) => server.once('listening', () => ready()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const key = flock.initialAdminKey!;
      const { code, out, err } = await run([
        '--url',
        base,
        '--admin-key',
        key,
        '--model',
        'mlp-small',
        '--clients',
        '4',
        '--fraction',
        '1',
        '--rounds',
        '2',
        '--partition',
        'iid',
        '--train-examples',
        '2000',
        '--eval-examples',
        '1000',
        '--workers',
        '0',
        '--target',
        '0.5',
        '--json',
      ]);
      expect(err).not.toMatch(/error/);
      expect(code).toBe(0);
      expect(err).toMatch(/rate limited on \/v1\/devices: waiting/);
      const result = JSON.parse(out) as {
        app: string;
        taskId: string;
        coordinator: string;
        history: { accuracy: number; reports: number }[];
        finalAccuracy: number;
        initialAccuracy: number;
      };
      expect(result.coordinator).toBe(base);
      expect(result.app).toMatch(/^sim-[0-9a-f]{8}$/);
      expect(result.history.slice(1).map((h) => h.reports)).toEqual([4, 4]);
      expect(result.finalAccuracy).toBeGreaterThan(result.initialAccuracy + 0.3);

      // What the simulation did is in the running coordinator's own store.
      const task = (await flock.deps.store.getTask(result.taskId))!;
      expect(task.app).toBe(result.app);
      expect(task.status).toBe('paused');
      const rounds = await flock.deps.store.listRounds({ taskId: result.taskId, limit: 10 });
      expect(rounds.map((r) => r.status).sort()).toEqual(['closed', 'closed']);
      const versions = await flock.deps.store.listModelVersions(result.app);
      expect(versions.length).toBe(3); // the pushed model and one per round
      expect((await flock.deps.store.listDevices({ app: result.app })).length).toBe(4);
    } finally {
      server.close();
      await flock.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
