import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  httpFetcher,
  mnistModelFiles,
  pushModel,
  registerDevice,
  testAdminKey,
} from '../coordinator/routes/fleet.fixture.ts';
import { startCoordinatorProcess } from '../test/pg/coordinator-processes.ts';
import { startTestS3Server, S3RVER_CREDENTIALS, type TestS3Server } from '../test/s3/s3-server.ts';
import { main } from './index.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'flock', 'serve', ...args], { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('flock serve flags', () => {
  it.each([
    [['--blobs', 'bytea'], /--blobs bytea needs --store postgres/],
    [['--blobs', 'ftp://bucket/x'], /--blobs: blobs must be folder, bytea or s3:\/\/bucket\/prefix/],
    [['--blobs', 's3://Not_A_Bucket/x'], /--blobs: .*bucket/i],
    [['--store', 'mysql://db/flock'], /--store: the store must be a postgres:\/\/ URL/],
    [['--port', '70000'], /--port must be at most 65535/],
    [['--telemetry-retention', '30'], /--telemetry-retention must be a number with a unit/],
    [['--telemetry-retention', '5s'], /--telemetry-retention must be at least 60 s/],
    [['--cors-origin', 'https://app.example/path'], /--cors-origin: .*no path/],
  ])('%j exits 2 before anything starts', async (args, message) => {
    const { code, err, out } = await run(args as string[]);
    expect(err).toMatch(message as RegExp);
    expect(code).toBe(2);
    expect(out).toBe('');
  });
});

describe('flock serve --blobs s3://', () => {
  let s3: TestS3Server;
  let dataDir: string;
  beforeAll(async () => {
    s3 = await startTestS3Server(['flock-serve-test']);
    dataDir = await mkdtemp(join(tmpdir(), 'flock-serve-s3-'));
  });
  afterAll(async () => {
    await s3?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps SQLite in --data and every blob in the bucket under the prefix; devices download them back', async () => {
    const adminKey = testAdminKey();
    const p = await startCoordinatorProcess({
      adminKey,
      args: ['--data', dataDir, '--blobs', 's3://flock-serve-test/fleet-a'],
      env: {
        FLOCK_S3_ENDPOINT: s3.endpoint,
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      },
    });
    try {
      // The banner's later lines may arrive in a later stdout chunk than "listening on".
      for (let i = 0; i < 50 && !p.stdout().includes('data dir:'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(p.stdout()).toContain('blobs in s3://flock-serve-test/fleet-a');
      const f = httpFetcher(p.base);
      const pushed = await pushModel(f, adminKey, 'digits', await mnistModelFiles('mlp-small'), 'production');
      expect(pushed.status).toBe(201);
      const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'flock-serve-test', Prefix: 'fleet-a/' }));
      const keys = (listed.Contents ?? []).map((o) => o.Key!);
      expect(keys.length).toBeGreaterThanOrEqual(3); // fp32, fp16 and int8 variants at least
      for (const key of keys) expect(key).toMatch(/^fleet-a\/[0-9a-f]{2}\/[0-9a-f]{62}$/);
      // Nothing went to the local blob folder.
      const local = await readdir(join(dataDir, 'blobs')).catch(() => [] as string[]);
      expect(local.filter((name) => name !== 'tmp')).toEqual([]);

      const device = await registerDevice(f, 'digits');
      const signed = (await (
        await f('/v1/apps/digits/manifest', { headers: { authorization: `Bearer ${device.token}` } })
      ).json()) as { manifest: { variants: { encoding: string; shards: { hash: string }[] }[] } };
      const shard = signed.manifest.variants[0].shards[0].hash;
      expect(keys).toContain(`fleet-a/${shard.slice(0, 2)}/${shard.slice(2)}`);
      const blob = await f(`/v1/blobs/${shard}`, { headers: { authorization: `Bearer ${device.token}` } });
      expect(blob.status).toBe(200);
      expect(
        createHash('sha256')
          .update(new Uint8Array(await blob.arrayBuffer()))
          .digest('hex'),
      ).toBe(shard);
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  }, 120_000);
});
