/**
 * `flock simulate --url` whose final `POST .../pause` meets a closed
 * connection. A keep-alive socket the server closed while the simulator
 * evaluated fails the next request written on it (undici: UND_ERR_SOCKET
 * "other side closed"); here the real coordinator sits behind a listener that
 * drops the first pause's socket, so the failure happens every run. The run
 * must still end with its table, its plot and its task paused. A run that
 * does fail half way pauses its task too.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { describe, expect, it } from 'vitest';
import { createCoordinator } from '../coordinator/coordinator.ts';
import { createLogger } from '../coordinator/observability/logger.ts';

const bin = fileURLToPath(new URL('../bin/flock.js', import.meta.url));

function flock(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, NODE_OPTIONS: '' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => done({ code, out, err }));
  });
}

/** A real coordinator behind a listener that may drop a request's connection or answer it itself. */
async function coordinatorBehind(intercept: (request: Request, drop: () => Response) => Response | null) {
  const dataDir = await mkdtemp(join(tmpdir(), 'flock-sim-keepalive-'));
  const coordinator = await createCoordinator({
    dataDir,
    log: createLogger({ level: 'silent' }),
    rateLimits: { registerPerIp: { limit: 1e6, windowMs: 1000 }, perDevice: { limit: 1e6, windowMs: 60_000 } },
  });
  const server = serve({
    fetch: (request: Request, env: unknown) => {
      const drop = () => {
        (env as { incoming: IncomingMessage }).incoming.socket.destroy();
        return new Response(null, { status: 500 });
      };
      return intercept(request, drop) ?? coordinator.app.fetch(request);
    },
    port: 0,
    hostname: '127.0.0.1',
  });
  await new Promise<void>((ready) => server.once('listening', () => ready()));
  return {
    coordinator,
    dataDir,
    args: [
      'simulate',
      '--url',
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      '--admin-key',
      coordinator.initialAdminKey!,
      '--model',
      'mlp-small',
      '--clients',
      '4',
      '--fraction',
      '1',
      '--train-examples',
      '2000',
      '--eval-examples',
      '1000',
      '--workers',
      '0',
      '--target',
      '0.5',
    ],
    close: async () => {
      server.close();
      if ('closeAllConnections' in server) server.closeAllConnections();
      await coordinator.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const isPause = (r: Request) =>
  r.method === 'POST' && /^\/v1\/admin\/tasks\/[^/]+\/pause$/.test(new URL(r.url).pathname);

describe('flock simulate --url when the coordinator closes connections', () => {
  it('retries the final pause on a fresh connection and ends with its table and plot, the task paused', async () => {
    let pauses = 0;
    const remote = await coordinatorBehind((request, drop) => (isPause(request) && ++pauses === 1 ? drop() : null));
    const plot = join(remote.dataDir, 'accuracy.svg');
    try {
      const { code, out, err } = await flock([...remote.args, '--rounds', '2', '--plot', plot]);
      expect(err).not.toMatch(/error|fetch failed/);
      expect(code).toBe(0);
      expect(out).toMatch(/^round {2}accuracy {2}reports/);
      expect(out).toMatch(/\n {4}2 +\d+\.\d\d% +4 /);
      const taskId = /task (task_\S+)/.exec(out)?.[1];
      expect(taskId).toBeDefined();
      expect((await remote.coordinator.deps.store.getTask(taskId!))?.status).toBe('paused');
      expect(await readFile(plot, 'utf8')).toMatch(/^<svg/);
      expect(pauses).toBe(2);
    } finally {
      await remote.close();
    }
  }, 180_000);

  it('a run that fails half way exits 1 naming the failed call, and pauses its task', async () => {
    // Closing round 2 answers 503 (not a dropped connection): a real failure the simulator must not paper over.
    let closes = 0;
    const remote = await coordinatorBehind((request) =>
      request.method === 'POST' &&
      /\/v1\/admin\/rounds\/[^/]+\/close$/.test(new URL(request.url).pathname) &&
      ++closes === 2
        ? Response.json({ error: { code: 'unavailable', message: 'down for maintenance' } }, { status: 503 })
        : null,
    );
    try {
      const { code, err } = await flock([...remote.args, '--rounds', '3']);
      expect(code).toBe(1);
      expect(err).toMatch(/error: POST \/v1\/admin\/rounds\/\S+\/close answered 503/);
      const tasks = await remote.coordinator.deps.store.listTasks();
      expect(tasks.map((t) => t.status)).toEqual(['paused']);
    } finally {
      await remote.close();
    }
  }, 180_000);
});
