import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { createCoordinator, type Coordinator } from '../coordinator.ts';
import { errorHandler } from './hooks.ts';

let dir: string;
let coordinator: Coordinator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flock-hardening-'));
  coordinator = await createCoordinator({
    dataDir: join(dir, 'data'),
    log: pino({ level: 'silent' }),
    sweep: false,
    aggregationBackend: 'cpu',
  });
});
afterAll(async () => {
  await coordinator?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('malformed requests', () => {
  it('answers a malformed percent-encoding with a typed 400, not a 500', async () => {
    for (const path of ['/%', '/v1/%E0%A4%A', '/dashboard/%']) {
      const res = await coordinator.app.request(path);
      expect(res.status, path).toBeLessThan(500);
      if (res.status === 400) {
        const body = (await res.json()) as { error: { code: string } };
        expect(body.error.code).toBe('bad_request');
      }
    }
  });

  it('maps a URIError thrown while decoding a path or param to a typed 400', async () => {
    const app = new Hono();
    app.onError(errorHandler(pino({ level: 'silent' })));
    app.get('/boom', () => {
      throw new URIError('URI malformed');
    });
    const res = await app.request('/boom');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_request');
  });
});
