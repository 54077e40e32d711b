/**
 * Hostile devices and files against a real `flock serve` process (SQLite in a
 * fresh --data folder, real TCP on loopback): what a registered, anonymous
 * device can send (prototype-key names, a telemetry flood, another app's
 * blobs, a stored update's hash) and what an upload can make the server do
 * (a 909-byte model.json declaring 1.6 GB of weights). Each attack prints its
 * figure; each asserts the safe outcome.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret } from '../../coordinator/auth/secrets.ts';
import { mnistModelFiles, updateMeta } from '../../coordinator/routes/fleet.fixture.ts';
import { startCoordinatorProcess, type CoordinatorProcess } from '../pg/coordinator-processes.ts';

const adminKey = newSecret('admin', 'hostile');
let proc: CoordinatorProcess & { stdout(): string };
let dataDir: string;
const admin = { authorization: `Bearer ${adminKey}` };

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.replace(/\D+/g, '') ?? 0) / 1024;
}

async function register(app: string): Promise<{ deviceId: string; token: string }> {
  const res = await fetch(`${proc.base}/v1/devices`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ app, platform: { runtime: 'node' } }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { deviceId: string; token: string };
}

async function push(app: string, files: Map<string, Uint8Array>, stage = 'production'): Promise<Response> {
  const form = new FormData();
  for (const [name, bytes] of files) form.append(name, new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  form.append('stage', stage);
  return fetch(`${proc.base}/v1/admin/models/${app}`, { method: 'POST', headers: admin, body: form });
}

const figures: string[] = [];

beforeAll(async () => {
  dataDir = join(await mkdtemp(join(tmpdir(), 'flock-hostile-serve-')), 'data');
  proc = await startCoordinatorProcess({ adminKey, env: { FLOCK_DATA: dataDir } });
  const files = await mnistModelFiles('mlp-small');
  expect((await push('digits', files)).status).toBe(201);
  expect((await push('inbox', await mnistModelFiles('mlp-small', 2))).status).toBe(201);
}, 120_000);

afterAll(async () => {
  if (proc) {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
  if (dataDir) await rm(join(dataDir, '..'), { recursive: true, force: true });
  console.info(
    `\nhostile flock serve (at rest, telemetry, blobs, topology):\n${figures.map((f) => `  ${f}`).join('\n')}`,
  );
});

describe('a real flock serve under hostile devices and files', () => {
  it('keeps the data folder 0700, the database and blobs 0600, and the signing key out of the database', async () => {
    const mode = async (p: string) => (await stat(p)).mode & 0o777;
    expect(await mode(dataDir)).toBe(0o700);
    expect(await mode(join(dataDir, 'flock.db'))).toBe(0o600);
    expect(await mode(join(dataDir, 'manifest-signing-key.json'))).toBe(0o600);
    const shard = (await readdir(join(dataDir, 'blobs'))).find((d) => d.length === 2)!;
    const blob = (await readdir(join(dataDir, 'blobs', shard)))[0];
    expect(await mode(join(dataDir, 'blobs', shard, blob))).toBe(0o600);
    const key = JSON.parse(readFileSync(join(dataDir, 'manifest-signing-key.json'), 'utf8')) as { privateKey: string };
    for (const f of ['flock.db', 'flock.db-wal']) {
      if (existsSync(join(dataDir, f)))
        expect(readFileSync(join(dataDir, f)).includes(Buffer.from(key.privateKey))).toBe(false);
    }
    figures.push(
      `at rest: data 0${(await mode(dataDir)).toString(8)}, flock.db 0${(await mode(join(dataDir, 'flock.db'))).toString(8)}, signing key in its own 0600 file, 0 copies of it in the database`,
    );
  });

  it('answers 24 parallel 63 MB uploads to a round that does not exist without reading them (RSS grows < 100 MB)', async () => {
    const d = await register('digits');
    const body = new Uint8Array(63 * 1024 * 1024);
    const pid = proc.child.pid!;
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
    const meta = JSON.stringify(updateMeta('rnd_nope', d.deviceId));
    const statuses = await Promise.all(
      Array.from({ length: 24 }, () =>
        fetch(`${proc.base}/v1/rounds/rnd_nope/updates`, {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${d.token}`,
            'content-type': 'application/octet-stream',
            'flock-update-meta': meta,
          },
          body,
        })
          .then(async (r) => (await r.arrayBuffer(), r.status))
          .catch(() => 'closed'),
      ),
    );
    clearInterval(sampler);
    const answered = statuses.filter((s) => s !== 'closed');
    expect(answered.length).toBeGreaterThan(0);
    for (const s of answered) expect(s).toBe(404);
    expect(peak - before).toBeLessThan(100);
    figures.push(
      `upload flood: 24 x 63 MB to a missing round -> ${answered.length} answered ${[...new Set(answered)].join('/')}, ${statuses.length - answered.length} cut off; server RSS ${before.toFixed(0)} -> peak ${peak.toFixed(0)} MB (was 545 -> 1475)`,
    );
  }, 120_000);

  it('serves a device only the blobs of its own app', async () => {
    const inbox = await register('inbox');
    const digits = await register('digits');
    const manifest = (await (
      await fetch(`${proc.base}/v1/apps/digits/manifest`, { headers: { authorization: `Bearer ${digits.token}` } })
    ).json()) as { manifest: { variants: { sha256: string }[] } };
    const hash = manifest.manifest.variants[0].sha256;
    expect(
      (await fetch(`${proc.base}/v1/blobs/${hash}`, { headers: { authorization: `Bearer ${digits.token}` } })).status,
    ).toBe(200);
    expect(
      (await fetch(`${proc.base}/v1/blobs/${hash}`, { headers: { authorization: `Bearer ${inbox.token}` } })).status,
    ).toBe(404);
    figures.push("blobs: a device of 'inbox' asking for a 'digits' weight blob gets 404 (the owner gets 200)");
  });

  it('answers malformed percent-encoding with 400 and every page with a CSP without inline scripts', async () => {
    const bad = await fetch(`${proc.base}/%`);
    expect(bad.status).toBe(400);
    const d = await register('digits');
    expect(
      (await fetch(`${proc.base}/v1/apps/%E0%A4%A/manifest`, { headers: { authorization: `Bearer ${d.token}` } }))
        .status,
    ).toBe(400);
    const page = await fetch(`${proc.base}/healthz`);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    figures.push(`GET /% -> ${bad.status}; /healthz carries nosniff and frame-ancestors 'none'`);
  });

  it('refuses a 909-byte model.json declaring a 20000x20000 Dense layer without allocating it', async () => {
    const json = {
      format: 'layers-model',
      modelTopology: {
        class_name: 'Sequential',
        config: {
          name: 'huge',
          layers: [
            {
              class_name: 'Dense',
              config: { name: 'd', units: 20000, use_bias: false, batch_input_shape: [null, 20000] },
            },
          ],
        },
      },
      weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'd/kernel', shape: [1, 1], dtype: 'float32' }] }],
    };
    const before = rssMb(proc.child.pid!);
    const res = await push(
      'huge',
      new Map([
        ['model.json', new TextEncoder().encode(JSON.stringify(json))],
        ['weights.bin', new Uint8Array(4)],
      ]),
      'candidate',
    );
    const after = rssMb(proc.child.pid!);
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /asks for weight kernel of shape \[20000, 20000\]/,
    );
    expect(after - before).toBeLessThan(100);
    figures.push(
      `topology attack: 422 topology_mismatch, server RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MB (unchecked tfjs would allocate 1.5 GiB)`,
    );
  });

  it('refuses `flock model push` of a folder whose weight file is a symlink out of it, uploading nothing', async () => {
    const folder = join(dataDir, '..', 'linked-model');
    await mkdir(folder);
    const files = await mnistModelFiles('mlp-small');
    const json = JSON.parse(new TextDecoder().decode(files.get('model.json'))) as {
      weightsManifest: { paths: string[] }[];
    };
    await writeFile(join(folder, 'model.json'), files.get('model.json')!);
    const secret = join(dataDir, '..', 'outside-secret.bin');
    await writeFile(secret, 'operator secret, not a weight');
    for (const path of json.weightsManifest.flatMap((g) => g.paths)) await symlink(secret, join(folder, path));
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const run = spawnSync(
      process.execPath,
      [join(root, 'bin/flock.js'), 'model', 'push', folder, '--app', 'linked', '--url', proc.base],
      { cwd: root, encoding: 'utf8', env: { ...process.env, FLOCK_ADMIN_KEY: adminKey } },
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/resolves to .*outside the model folder/);
    const listed = await fetch(`${proc.base}/v1/admin/models/linked/versions`, { headers: admin });
    expect(listed.status).toBe(200);
    const versions = ((await listed.json()) as { versions: unknown[] }).versions.length;
    expect(versions).toBe(0);
    figures.push(
      `model push through a symlink out of the folder: exit ${run.status} (${run.stderr.trim().split('\n')[0]}), ${versions} versions of 'linked' on the server`,
    );
  });

  it('survives feature names that are Object.prototype keys: drift still answers', async () => {
    const d = await register('digits');
    const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
    const at = new Date().toISOString();
    const res = await fetch(`${proc.base}/v1/telemetry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        deviceId: d.deviceId,
        app: 'digits',
        modelVersion: 1,
        events: [
          {
            type: 'feature-summary',
            at,
            count: 10,
            features: names.map((name) => ({
              name,
              mean: 0.5,
              variance: 0.1,
              histogram: { min: 0, max: 1, counts: [3, 4, 3] },
            })),
          },
          { type: 'predictions', at, counts: Object.fromEntries(names.map((n) => [n, 2])) },
        ],
      }),
    });
    expect(res.status).toBe(202);
    const drift = await fetch(`${proc.base}/v1/admin/models/digits/drift`, { headers: admin });
    expect(drift.status).toBe(200);
    figures.push(`prototype-key feature names: telemetry 202, drift ${drift.status}`);
  });

  it("caps one device's telemetry: a flood gets 429 with Retry-After, and the database grows by about the quota", async () => {
    const d = await register('digits');
    const dbBytes = () =>
      ['flock.db', 'flock.db-wal'].reduce(
        (n, f) => n + (existsSync(join(dataDir, f)) ? statSync(join(dataDir, f)).size : 0),
        0,
      );
    const before = dbBytes();
    const at = new Date().toISOString();
    const body = JSON.stringify({
      deviceId: d.deviceId,
      app: 'digits',
      modelVersion: 1,
      events: Array.from({ length: 500 }, (_, i) => ({
        type: 'error',
        at,
        where: 'predict',
        code: `flood-${i}-${'x'.repeat(40)}`,
        count: 1,
      })),
    });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    const started = Date.now();
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${proc.base}/v1/telemetry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
        body,
      });
      statuses.push(res.status);
      if (res.status === 429) retryAfter ??= res.headers.get('retry-after');
      await res.arrayBuffer();
    }
    const accepted = statuses.filter((s) => s === 202).length;
    const grownMb = (dbBytes() - before) / 2 ** 20;
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(accepted * 500).toBeLessThanOrEqual(5000);
    expect(grownMb).toBeLessThan(64);
    figures.push(
      `telemetry flood: 60 batches of 500 events (${(body.length / 1024).toFixed(0)} KB) in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${accepted} accepted, ${statuses.length - accepted} answered 429 (Retry-After ${retryAfter} s); database grew ${grownMb.toFixed(1)} MB`,
    );
  });
});
