import { serve } from '@hono/node-server';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMnistModel } from '../shared/model/index.ts';
import { ModelVersionViewSchema } from '../shared/protocol/index.ts';
import { parseSecret } from '../coordinator/auth/secrets.ts';
import { createCoordinator, type Coordinator } from '../coordinator/coordinator.ts';
import { writeHoldout, writeModelDirectory } from '../coordinator/registry/index.ts';
import { loadModelSpec } from '../coordinator/registry/model-spec-file.ts';
import { resolveConnection } from './admin-http.ts';
import { generateAdminKey } from './admin-key.ts';
import { main, type CliIo } from './index.ts';
import { PushAnswerSchema } from './model.ts';

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (t: string) => {
      io.stdout += t;
    },
    err: (t: string) => {
      io.stderr += t;
    },
  };
  return io;
}

let tmp: string;
let modelDir: string;
let holdoutPath: string;
let coordinator: Coordinator;
let server: ReturnType<typeof serve>;
let url: string;
let adminKey: string;

async function flock(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = capture();
  const code = await main(['node', 'flock', ...args], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}
const admin = (...args: string[]) => flock(...args, '--url', url, '--admin-key', adminKey);

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flock-cli-model-'));
  // The coordinator accepts a key minted by `flock admin-key` itself.
  const minted = await flock('admin-key');
  adminKey = minted.stdout.trim();
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

  modelDir = join(tmp, 'model');
  await writeModelDirectory(createMnistModel('mlp-small', { seed: 7 }), modelDir);
  let state = 12345;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const count = 24;
  holdoutPath = join(tmp, 'holdout.flkt');
  await writeFile(
    holdoutPath,
    writeHoldout({
      x: Float32Array.from({ length: count * 784 }, next),
      y: Uint8Array.from({ length: count }, (_, i) => i % 10),
      inputShape: [784],
    }),
  );
}, 60_000);

afterAll(async () => {
  server?.close();
  if (server && 'closeAllConnections' in server) server.closeAllConnections();
  await coordinator?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('flock admin-key', () => {
  it('prints only a fresh admin key on stdout, different each time', async () => {
    const a = await flock('admin-key');
    const b = await flock('admin-key');
    expect(a.code).toBe(0);
    expect(parseSecret(a.stdout.trim())?.kind).toBe('admin');
    expect(a.stdout.trim()).not.toBe(b.stdout.trim());
    expect(a.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(a.stderr).toMatch(/FLOCK_ADMIN_KEY/);
  });
});

describe('flock model against a running coordinator', () => {
  it('pushes a model folder with a holdout and prints the version, variants and accuracy report', async () => {
    const { code, stdout, stderr } = await admin(
      'model',
      'push',
      modelDir,
      '--app',
      'digits',
      '--holdout',
      holdoutPath,
    );
    expect(stderr).toMatch(/^uploading 3 files \([\d.]+ KiB\) to http:\/\/127\.0\.0\.1:\d+/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^pushed digits v1 \(stage candidate\)/);
    const stored = await coordinator.deps.store.getModelVersion('digits', 1);
    expect(stored).toBeTruthy();
    for (const variant of stored!.variants) expect(stdout).toContain(`${variant.sha256.slice(0, 12)}…`);
    expect(stdout).toMatch(/holdout accuracy on 24 examples \(fp32 [\d.]+\)/);
    expect(stdout).toMatch(/^encoding\s+accuracy\s+drop\s+served$/m);
    expect(stdout).toMatch(/^int8\s+[\d.]+\s+-?[\d.e-]+\s+(yes|no \(refused\))$/m);
  });

  it('pushes again with --json and --stage; the answer matches the registry', async () => {
    const { code, stdout } = await admin('model', 'push', modelDir, '--app', 'digits', '--stage', 'canary', '--json');
    expect(code).toBe(0);
    const answer = PushAnswerSchema.parse(JSON.parse(stdout));
    expect(answer).toMatchObject({
      app: 'digits',
      version: 2,
      stage: 'canary',
      source: 'push',
      accuracy: null,
      refusedVariants: [],
    });
    expect(answer.variants.map((v) => v.encoding).sort()).toEqual(['fp16', 'fp32', 'int8']);
    const stored = await coordinator.deps.store.getModelVersion('digits', 2);
    expect(answer.variants.map((v) => v.sha256).sort()).toEqual(stored!.variants.map((v) => v.sha256).sort());
  });

  it('lists versions as a table and as JSON', async () => {
    const table = await admin('model', 'list', '--app', 'digits');
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^version\s+stage\s+source\s+parent\s+clients\s+epsilon\s+created$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['2', 'canary', 'push'],
      ['1', 'candidate', 'push'],
    ]);
    const json = await admin('model', 'list', '--app', 'digits', '--json');
    expect((JSON.parse(json.stdout) as Array<{ version: number }>).map((v) => v.version)).toEqual([2, 1]);
  });

  it('moves a version to production and shows it, despite the root --version flag', async () => {
    const staged = await admin(
      'model',
      'stage',
      '--app',
      'digits',
      '--version',
      '1',
      '--to',
      'production',
      '--reason',
      'first release',
    );
    expect(staged).toMatchObject({ code: 0, stdout: 'digits v1 is now production\n' });
    expect((await coordinator.deps.store.getModelVersion('digits', 1))!.stage).toBe('production');
    const shown = await admin('model', 'show', '--app', 'digits', '--version', '1', '--json');
    expect(shown.code).toBe(0);
    expect(ModelVersionViewSchema.parse(JSON.parse(shown.stdout))).toMatchObject({ version: 1, stage: 'production' });
    const human = await admin('model', 'show', '--app', 'digits', '--version', '1');
    expect(human.stdout).toMatch(/^digits v1 {2}stage production {2}source push/);
    expect(human.stdout).toMatch(/holdoutAccuracy=[\d.]+/);
  });

  it('runs through the real bin with FLOCK_URL and FLOCK_ADMIN_KEY', async () => {
    const bin = fileURLToPath(new URL('../bin/flock.js', import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [bin, 'model', 'list', '--app', 'digits', '--json'],
      {
        env: { ...process.env, FLOCK_URL: url, FLOCK_ADMIN_KEY: adminKey },
        timeout: 60_000,
      },
    );
    const versions = JSON.parse(stdout) as Array<{ version: number; stage: string }>;
    expect(versions.map((v) => [v.version, v.stage])).toEqual([
      [2, 'canary'],
      [1, 'production'],
    ]);
  }, 60_000);
});

describe('flock model errors', () => {
  it('exits 2 when --app is missing', async () => {
    const { code, stderr } = await admin('model', 'list');
    expect(code).toBe(2);
    expect(stderr).toMatch(/--app/);
  });

  it('exits 2 for a bad app name, stage or version before any request', async () => {
    expect(await admin('model', 'list', '--app', 'Digits!')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--app: app names are/),
    });
    expect(await admin('model', 'stage', '--app', 'digits', '--version', '1', '--to', 'live')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--to must be one of candidate, canary, production, archived/),
    });
    expect(await admin('model', 'show', '--app', 'digits', '--version', 'x')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--version must be a number/),
    });
  });

  it('exits 2 for a folder that does not exist, and names it', async () => {
    const missing = join(tmp, 'no-such-model');
    const { code, stdout, stderr } = await admin('model', 'push', missing, '--app', 'digits');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`model folder "${missing}" does not exist`);
  });

  it('exits 2 when model.json names a weight file that is not there', async () => {
    const broken = join(tmp, 'broken');
    await mkdir(broken, { recursive: true });
    await writeFile(
      join(broken, 'model.json'),
      JSON.stringify({
        format: 'layers-model',
        modelTopology: {},
        weightsManifest: [{ paths: ['shard-1.bin'], weights: [] }],
      }),
    );
    const { code, stderr } = await admin('model', 'push', broken, '--app', 'digits');
    expect(code).toBe(2);
    expect(stderr).toMatch(/names weight file "shard-1\.bin" that is not there/);
  });

  it('exits 2 when model.json is not JSON', async () => {
    const bad = join(tmp, 'not-json');
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'model.json'), '{ nope');
    const { code, stderr } = await admin('model', 'push', bad, '--app', 'digits');
    expect(code).toBe(2);
    expect(stderr).toMatch(/model\.json is not valid UTF-8 JSON/);
  });

  it('exits 2 for a flock-model.json that is not a valid spec, naming the field, before any upload', async () => {
    const dir = join(tmp, 'bad-spec');
    await cp(modelDir, dir, { recursive: true });
    await writeFile(
      join(dir, 'flock-model.json'),
      JSON.stringify({ version: 1, output: { kind: 'binary', threshold: 2 } }),
    );
    const before = (await coordinator.deps.store.listModelVersions('specs')).length;
    const { code, stderr } = await admin('model', 'push', dir, '--app', 'specs');
    expect(code).toBe(2);
    expect(stderr).toContain('flock-model.json: output.threshold');
    expect(stderr).not.toContain('uploading');
    expect(await coordinator.deps.store.listModelVersions('specs')).toHaveLength(before);
  });

  it('uploads flock-model.json with the model and the version keeps it', async () => {
    const dir = join(tmp, 'with-spec');
    await cp(modelDir, dir, { recursive: true });
    await writeFile(join(dir, 'flock-model.json'), JSON.stringify({ version: 1, output: { kind: 'regression' } }));
    const { code, stderr } = await admin('model', 'push', dir, '--app', 'specs', '--json');
    expect(stderr).toMatch(/^uploading 3 files/);
    expect(code).toBe(0);
    const stored = await coordinator.deps.store.latestModelVersion('specs');
    const spec = await loadModelSpec(coordinator.deps.store, stored!);
    expect(spec).toEqual({ version: 1, output: { kind: 'regression' } });
  });

  it('refuses a weight file that is a symlink out of the model folder, and uploads nothing', async () => {
    const linked = join(tmp, 'linked-model');
    await cp(modelDir, linked, { recursive: true });
    const outside = join(tmp, 'outside-secret.bin');
    await writeFile(outside, 'not a weight');
    const shard = join(linked, 'weights.bin');
    await unlink(shard);
    await symlink(outside, shard);
    const before = (await admin('model', 'list', '--app', 'symlinked', '--json')).stdout;
    const { code, stderr } = await admin('model', 'push', linked, '--app', 'symlinked');
    expect(code).toBe(2);
    expect(stderr).toMatch(/"weights\.bin" resolves to .*outside the model folder/);
    expect((await admin('model', 'list', '--app', 'symlinked', '--json')).stdout).toBe(before);
  });

  it('checks the admin key before uploading a model, and says unauthorized without an "uploading" line', async () => {
    const io = capture();
    const code = await main(
      ['node', 'flock', 'model', 'push', modelDir, '--app', 'digits', '--url', url, '--admin-key', generateAdminKey()],
      io,
    );
    expect(code).toBe(1);
    expect(io.stderr).toMatch(/^error: unauthorized: /);
    expect(io.stderr).not.toMatch(/uploading/);
  });

  it('exits 1 with an unauthorized message for a wrong admin key', async () => {
    const io = capture();
    const code = await main(
      ['node', 'flock', 'model', 'list', '--app', 'digits', '--url', url, '--admin-key', generateAdminKey()],
      io,
    );
    expect(code).toBe(1);
    expect(io.stderr).toMatch(/^error: unauthorized: .*check --admin-key \/ FLOCK_ADMIN_KEY/);
  });

  it('exits 1 with the API message for a version that does not exist', async () => {
    const { code, stderr } = await admin('model', 'show', '--app', 'digits', '--version', '99');
    expect(code).toBe(1);
    expect(stderr).toBe('error: not_found: model digits has no version 99\n');
  });

  it('exits 1 and says to start "flock serve" when nothing listens', async () => {
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const freePort = (probe.address() as AddressInfo).port;
    await new Promise((done) => probe.close(done));
    const io = capture();
    const code = await main(
      [
        'node',
        'flock',
        'model',
        'list',
        '--app',
        'digits',
        '--url',
        `http://127.0.0.1:${freePort}`,
        '--admin-key',
        adminKey,
      ],
      io,
    );
    expect(code).toBe(1);
    expect(io.stderr).toMatch(
      /cannot reach the coordinator at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); start it with "flock serve"/,
    );
  });

  it('resolves the connection from the environment, and asks for a key when there is none', () => {
    expect(resolveConnection({}, { FLOCK_URL: 'http://example.test:9000/', FLOCK_ADMIN_KEY: 'k' })).toEqual({
      baseUrl: 'http://example.test:9000',
      adminKey: 'k',
    });
    expect(
      resolveConnection(
        { url: 'http://a.test', adminKey: 'flag' },
        { FLOCK_URL: 'http://b.test', FLOCK_ADMIN_KEY: 'env' },
      ),
    ).toEqual({ baseUrl: 'http://a.test', adminKey: 'flag' });
    expect(resolveConnection({}, { FLOCK_ADMIN_KEY: 'k' }).baseUrl).toBe('http://127.0.0.1:8787');
    expect(() => resolveConnection({}, {})).toThrow(/no admin key: pass --admin-key or set FLOCK_ADMIN_KEY/);
    expect(() => resolveConnection({ url: 'ftp://x' }, { FLOCK_ADMIN_KEY: 'k' })).toThrow(
      /--url must be an http\(s\) URL/,
    );
  });
});
