import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { parseCorsOrigins } from './cors.ts';

const APP_ORIGIN = 'http://app.example:5173';
let dir: string;
let open: Coordinator;
let closed: Coordinator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flock-cors-'));
  const log = pino({ level: 'silent' });
  open = await createCoordinator({
    dataDir: join(dir, 'open'),
    log,
    sweep: false,
    aggregationBackend: 'cpu',
    corsOrigins: [APP_ORIGIN],
  });
  closed = await createCoordinator({ dataDir: join(dir, 'closed'), log, sweep: false, aggregationBackend: 'cpu' });
});
afterAll(async () => {
  await open?.close();
  await closed?.close();
  await rm(dir, { recursive: true, force: true });
});

function preflight(
  c: Coordinator,
  path: string,
  origin: string,
  method = 'POST',
  headers = 'authorization,content-type',
) {
  return c.app.request(path, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': headers },
  });
}

describe('CORS for embedding the SDK in another origin', () => {
  it('answers a preflight from a listed origin on device routes, with the headers the SDK sends', async () => {
    const res = await preflight(open, '/v1/rounds/r_1/updates', APP_ORIGIN, 'PUT', 'authorization,flock-update-meta');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['authorization', 'flock-update-meta', 'if-none-match', 'last-event-id'])
      expect(allowed).toContain(h);
    expect(res.headers.get('access-control-allow-methods')).toContain('PUT');
  });

  it('exposes ETag on a real device-route answer to a listed origin', async () => {
    const res = await open.app.request('/v1/keys/manifest', { headers: { Origin: APP_ORIGIN } });
    expect(res.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(res.headers.get('access-control-expose-headers')).toMatch(/ETag/);
  });

  it('gives no CORS header to an unlisted origin, nor to admin routes, nor by default', async () => {
    expect(
      (await preflight(open, '/v1/devices', 'http://evil.example')).headers.get('access-control-allow-origin'),
    ).toBeNull();
    const admin = await preflight(open, '/v1/admin/tasks', APP_ORIGIN, 'GET');
    expect(admin.headers.get('access-control-allow-origin')).toBeNull();
    const adminGet = await open.app.request('/v1/admin/tasks', { headers: { Origin: APP_ORIGIN } });
    expect(adminGet.status).toBe(401);
    expect(adminGet.headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight(closed, '/v1/devices', APP_ORIGIN)).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('reads origins from flags and the environment, and refuses what is not an origin', () => {
    expect(parseCorsOrigins(['https://a.example, http://b.example:8080/', 'https://a.example'])).toEqual([
      'https://a.example',
      'http://b.example:8080',
    ]);
    expect(() => parseCorsOrigins(['https://a.example/app'])).toThrow(/no path, e\.g\. https:\/\/a\.example/);
    expect(() => parseCorsOrigins(['a.example'])).toThrow(/not an origin/);
    expect(() => parseCorsOrigins(['ftp://a.example'])).toThrow(/not an origin/);
  });
});
