import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { remoteTarget, repeatable } from './simulation-target.ts';

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

/** A coordinator stand-in that drops the connection of the first `drops` requests to `path`. */
async function flakyServer(path: string, drops: number): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  server = createServer((req, res) => {
    if (req.url === path) {
      hits += 1;
      if (hits <= drops) return req.socket.destroy();
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

describe('remote simulation target', () => {
  it('retries a task pause whose connection the server closed, and answers its result', async () => {
    const { url, hits } = await flakyServer('/v1/admin/tasks/task_1/pause', 2);
    const target = await remoteTarget({ url, adminKey: 'k' });
    const res = await target.fetch(`${url}/v1/admin/tasks/task_1/pause`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(hits()).toBe(3);
  });

  it('does not repeat a registration whose connection failed', async () => {
    const { url, hits } = await flakyServer('/v1/devices', 1);
    const target = await remoteTarget({ url, adminKey: 'k' });
    await expect(target.fetch(`${url}/v1/devices`, { method: 'POST', body: '{}' })).rejects.toThrow(/fetch failed/);
    expect(hits()).toBe(1);
  });

  it('knows which requests are safe to repeat', () => {
    expect(repeatable(new Request('http://x/v1/rounds/r/updates', { method: 'PUT' }))).toBe(true);
    expect(repeatable(new Request('http://x/v1/admin/tasks/t/resume', { method: 'POST' }))).toBe(true);
    expect(repeatable(new Request('http://x/v1/tasks/t/checkin', { method: 'POST' }))).toBe(true);
    expect(repeatable(new Request('http://x/v1/admin/rounds/r/close', { method: 'POST' }))).toBe(true);
    expect(repeatable(new Request('http://x/v1/admin/tasks', { method: 'POST' }))).toBe(false);
    expect(repeatable(new Request('http://x/v1/devices', { method: 'POST' }))).toBe(false);
    expect(repeatable(new Request('http://x/v1/admin/models/sim', { method: 'POST' }))).toBe(false);
  });
});
