/**
 * What the real `flock` bin loads. `--help` and the commands that need no
 * model (privacy, status, the admin reads) must not load tfjs or a store;
 * `--help` not even zod. A module-resolution hook given to node with
 * --import records every module the process resolves.
 */
import { serve } from '@hono/node-server';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordinator, type Coordinator } from '../coordinator/coordinator.ts';

const bin = fileURLToPath(new URL('../bin/flock.js', import.meta.url));
const HEAVY =
  /node_modules\/(@tensorflow\/|kysely\/|better-sqlite3\/|pg\/)|\/coordinator\/(store|aggregation|rounds|rollouts)\//;

let tmp: string;
let coordinator: Coordinator;
let server: ReturnType<typeof serve>;
let url: string;
let run = 0;

/** Runs the bin with the hook; resolves to its exit code, output and every module URL it resolved. */
async function flock(args: string[]): Promise<{ code: number; stdout: string; stderr: string; modules: string[] }> {
  const log = join(tmp, `modules-${++run}.txt`);
  const hook = join(tmp, `hook-${run}.mjs`);
  await writeFile(
    hook,
    `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`,
  );
  const register = join(tmp, `register-${run}.mjs`);
  await writeFile(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`,
  );
  await writeFile(log, '');
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(
      process.execPath,
      ['--import', register, bin, ...args],
      { env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 },
      (error, stdout, stderr) =>
        done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  return { code, stdout, stderr, modules: (await readFile(log, 'utf8')).split('\n').filter(Boolean) };
}

const heavy = (modules: string[]) => modules.filter((m) => HEAVY.test(m));

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flock-bin-loading-'));
  coordinator = await createCoordinator({
    dataDir: join(tmp, 'data'),
    log: pino({ level: 'silent' }),
    sweep: false,
    aggregationBackend: 'cpu',
  });
  server = serve({ fetch: coordinator.app.fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  server?.close();
  if (server && 'closeAllConnections' in server) server.closeAllConnections();
  await coordinator?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('the flock bin loads only what a command needs', () => {
  it('--help loads the command definitions: no tfjs, no store, no zod', async () => {
    const { code, stdout, modules } = await flock(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: flock /);
    expect(modules.some((m) => m.endsWith('/cli/index.ts'))).toBe(true);
    expect(heavy(modules)).toEqual([]);
    expect(modules.filter((m) => m.includes('/node_modules/zod/'))).toEqual([]);
  });

  it('privacy epsilon computes without tfjs or a store', async () => {
    const { code, stdout, modules } = await flock([
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
      '--json',
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ steps: 100 });
    expect(modules.some((m) => m.includes('/shared/dp/'))).toBe(true);
    expect(heavy(modules)).toEqual([]);
  });

  it.each([
    [['status', '--json']],
    [['task', 'list', '--json']],
    [['rollout', 'list', '--json']],
    [['model', 'list', '--app', 'digits', '--json']],
  ])('%j against a running coordinator loads no tfjs or store', async (args) => {
    const { code, stdout, stderr, modules } = await flock([
      ...args,
      '--url',
      url,
      '--admin-key',
      coordinator.initialAdminKey!,
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(() => JSON.parse(stdout)).not.toThrow();
    expect(heavy(modules)).toEqual([]);
  });

  it('the hook sees tfjs where a command does load it (so the checks above can fail)', async () => {
    const { code, modules } = await flock([
      'model',
      'push',
      join(tmp, 'no-such-model'),
      '--app',
      'digits',
      '--url',
      url,
      '--admin-key',
      'x',
    ]);
    expect(code).toBe(2);
    expect(modules.some((m) => m.includes('/cli/model.ts'))).toBe(true);
    const simulate = await flock(['simulate', '--clients', '0']);
    expect(simulate.code).toBe(2);
    expect(heavy(simulate.modules).some((m) => m.includes('@tensorflow/'))).toBe(true);
  });
});
