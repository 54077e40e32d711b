/**
 * The S3 blob store against a real S3-compatible server (s3rver, in process):
 * the shared BlobStore contract, plus what only a bucket we do not control can
 * break: prefixes sharing one bucket, objects changed behind our back, a
 * missing bucket, an unreachable endpoint, and credentials kept out of errors.
 */
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';
import {
  DeleteBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3RVER_CREDENTIALS, startTestS3Server, type TestS3Server } from '../../test/s3/s3-server.ts';
import { describeBlobStoreContract } from './blob-store-contract.fixture.ts';
import { sha256Hex } from './blob-store.ts';
import { StoreError } from './errors.ts';
import {
  createS3BlobStore,
  normalizeS3Prefix,
  openS3BlobStoreFromUrl,
  parseS3BlobUrl,
  type S3BlobStore,
} from './s3-blob-store.ts';

const BUCKET = 'flock-blobs';
let s3: TestS3Server;
beforeAll(async () => {
  s3 = await startTestS3Server([BUCKET]);
});
afterAll(async () => {
  await s3?.stop();
});

let storeCount = 0;
/** A store on the test server under a prefix of its own, so every test starts empty. */
const openStore = (options: { prefix?: string; maxBytes?: number } = {}): Promise<S3BlobStore> =>
  createS3BlobStore({
    bucket: BUCKET,
    prefix: options.prefix ?? `test-${process.pid}-${++storeCount}`,
    endpoint: s3.endpoint,
    credentials: S3RVER_CREDENTIALS,
    maxBytes: options.maxBytes,
  });

const text = (s: string) => new TextEncoder().encode(s);
const errorOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describeBlobStoreContract('s3 (s3rver)', async ({ maxBytes }) => {
  const blobs = await openStore({ maxBytes });
  return { blobs, cleanup: async () => blobs.close() };
});

describe('parseS3BlobUrl', () => {
  it('splits bucket and prefix, normalizing slashes', () => {
    expect(parseS3BlobUrl('s3://flock-blobs')).toEqual({ bucket: 'flock-blobs', prefix: '' });
    expect(parseS3BlobUrl('s3://flock-blobs/')).toEqual({ bucket: 'flock-blobs', prefix: '' });
    expect(parseS3BlobUrl('s3://flock.blobs/prod/eu/')).toEqual({ bucket: 'flock.blobs', prefix: 'prod/eu' });
    expect(normalizeS3Prefix('//a/b//')).toBe('a/b');
  });

  it('refuses what is not s3://bucket/prefix with StoreError(invalid), never echoing credentials', () => {
    const bad = [
      'https://flock-blobs/x',
      'flock-blobs/x',
      's3://',
      's3:///prefix',
      's3://Flock_Blobs/x',
      's3://ab/x',
      's3://flock-blobs:9000/x',
      's3://flock-blobs/x?region=eu',
      's3://flock-blobs/a//b',
      's3://flock-blobs/a/../b',
      's3://AKIASECRET:hunter2@flock-blobs/x',
    ];
    for (const url of bad) {
      const err = (() => {
        try {
          parseS3BlobUrl(url);
          return null;
        } catch (e) {
          return e;
        }
      })();
      expect(err, url).toBeInstanceOf(StoreError);
      expect((err as StoreError).code, url).toBe('invalid');
      expect((err as StoreError).message).not.toMatch(/hunter2|AKIASECRET/);
    }
  });
});

describe('S3 blob store', () => {
  it('keys blobs as <prefix>/ab/cdef..., and stores under different prefixes do not see each other', async () => {
    const a = await openStore({ prefix: '/fleet-a/' });
    const b = await openStore({ prefix: 'fleet-b/nested' });
    const root = await openStore({ prefix: '' });
    try {
      expect(a.prefix).toBe('fleet-a');
      const { hash } = await a.put(text('only in a'));
      const head = await s3.client.send(
        new HeadObjectCommand({ Bucket: BUCKET, Key: `fleet-a/${hash.slice(0, 2)}/${hash.slice(2)}` }),
      );
      expect(head.ContentLength).toBe(9);
      expect(await b.has(hash)).toBe(false);
      expect(await b.get(hash)).toBeNull();
      expect(await b.delete(hash)).toBe(false);
      expect(await root.has(hash)).toBe(false);
      expect(await a.has(hash)).toBe(true);

      const other = await root.put(text('at the root'));
      await expect(
        s3.client.send(
          new HeadObjectCommand({ Bucket: BUCKET, Key: `${other.hash.slice(0, 2)}/${other.hash.slice(2)}` }),
        ),
      ).resolves.toMatchObject({ ContentLength: 11 });
      expect(await a.has(other.hash)).toBe(false);
    } finally {
      for (const s of [a, b, root]) s.close();
    }
  });

  it('refuses to serve an object that was changed in the bucket, even at the same size', async () => {
    const blobs = await openStore();
    try {
      const original = text('weights v1');
      const { hash } = await blobs.put(original);
      const key = `${blobs.prefix}/${hash.slice(0, 2)}/${hash.slice(2)}`;
      await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: text('weights v2') }));
      const err = await errorOf(blobs.get(hash));
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe('io');
      expect((err as StoreError).details).toMatchObject({ corrupt: true, hash, actual: sha256Hex(text('weights v2')) });
      expect((err as StoreError).message).toContain(key);

      // A damaged object of another size is repaired by the next put of the true bytes.
      await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: text('truncated') }));
      await expect(blobs.get(hash)).rejects.toMatchObject({ code: 'io' });
      await blobs.put(original);
      expect(Buffer.from((await blobs.get(hash))!).toString()).toBe('weights v1');
    } finally {
      blobs.close();
    }
  });

  it('checks hashes before sending any request', async () => {
    let requests = 0;
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    client.middlewareStack.add(
      (next) => async (args) => {
        requests++;
        return next(args);
      },
      { step: 'initialize' },
    );
    try {
      const blobs = await createS3BlobStore({ bucket: BUCKET, prefix: 'counted', client });
      const before = requests;
      expect(before).toBe(1); // HeadBucket
      await expect(blobs.get('../../etc/passwd')).rejects.toMatchObject({ code: 'invalid' });
      await expect(blobs.delete('A'.repeat(64))).rejects.toMatchObject({ code: 'invalid' });
      expect(requests).toBe(before);
      blobs.close(); // a client passed in stays usable
      expect(await blobs.has(sha256Hex(text('x')))).toBe(false);
      expect(requests).toBe(before + 1);
    } finally {
      client.destroy();
    }
  });

  it('sends Content-MD5 with each upload, so the server can refuse damaged bytes', async () => {
    // s3rver does not check Content-MD5 (S3 and MinIO do), so look at the request itself.
    const sent: Record<string, string>[] = [];
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { method?: string; headers?: Record<string, string> };
        if (request.method === 'PUT' && request.headers) sent.push({ ...request.headers });
        return next(args);
      },
      { step: 'finalizeRequest' },
    );
    const blobs = await createS3BlobStore({ bucket: BUCKET, prefix: 'md5', client });
    try {
      const data = new Uint8Array(100_000).map((_, i) => i % 251);
      await blobs.put(data);
      expect(sent).toHaveLength(1);
      expect(sent[0]['content-md5']).toBe(createHash('md5').update(data).digest('base64'));
      expect(sent[0]['content-length']).toBe('100000');
      await blobs.put(data);
      expect(sent).toHaveLength(1); // already there: HeadObject only
    } finally {
      client.destroy();
    }
  });

  it('reports a bucket that vanished after opening as StoreError(io), not as absent blobs', async () => {
    const blobs = await createS3BlobStore({
      bucket: 'vanishing',
      endpoint: s3.endpoint,
      credentials: S3RVER_CREDENTIALS,
      createBucket: true,
    });
    try {
      await s3.client.send(new DeleteBucketCommand({ Bucket: 'vanishing' }));
      const hash = sha256Hex(text('anything'));
      const err = await errorOf(blobs.get(hash));
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe('io');
      expect((err as StoreError).message).toContain(`s3://vanishing/${hash.slice(0, 2)}/${hash.slice(2)}`);
      expect((err as StoreError).message).toMatch(/NoSuchBucket \(HTTP 404\)/);
      await expect(blobs.put(text('anything'))).rejects.toMatchObject({
        code: 'io',
        details: { s3Code: 'NoSuchBucket' },
      });
    } finally {
      blobs.close();
    }
  });

  it('fails to open on a missing bucket with a clear error, or creates it when asked', async () => {
    const err = await errorOf(
      createS3BlobStore({ bucket: 'no-such-bucket', endpoint: s3.endpoint, credentials: S3RVER_CREDENTIALS }),
    );
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('not_found');
    expect((err as StoreError).message).toMatch(/bucket "no-such-bucket" does not exist/);

    const created = await createS3BlobStore({
      bucket: 'made-on-open',
      endpoint: s3.endpoint,
      credentials: S3RVER_CREDENTIALS,
      createBucket: true,
    });
    try {
      const { hash } = await created.put(text('fresh bucket'));
      const r = await s3.client.send(
        new GetObjectCommand({ Bucket: 'made-on-open', Key: `${hash.slice(0, 2)}/${hash.slice(2)}` }),
      );
      expect(Buffer.from(await r.Body!.transformToByteArray()).toString()).toBe('fresh bucket');
    } finally {
      created.close();
    }
  });

  it('turns refused credentials into StoreError(io) naming the S3 code, without the keys', async () => {
    const accessKeyId = 'AKIAFLOCKUNKNOWN';
    const secret = 'not-the-s3rver-secret-9f8e7d';
    // s3rver 3.7.1 does not verify SigV4 signatures, only that the key id is
    // known, and may let HeadBucket through: the refusal may come at open (as
    // from AWS) or at the first put.
    const openAndPut = async () => {
      const blobs = await createS3BlobStore({
        bucket: BUCKET,
        endpoint: s3.endpoint,
        maxAttempts: 1,
        credentials: { accessKeyId, secretAccessKey: secret },
      });
      try {
        await blobs.put(text('signed with the wrong key'));
      } finally {
        blobs.close();
      }
    };
    const err = await errorOf(openAndPut());
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('io');
    expect((err as StoreError).message).toContain(`s3://${BUCKET}`);
    expect((err as StoreError).message).toMatch(
      /(InvalidAccessKeyId|AccessDenied) \(HTTP 403\).*Check the credentials/,
    );
    for (const key of [accessKeyId, secret]) {
      expect((err as StoreError).message).not.toContain(key);
      expect(JSON.stringify((err as StoreError).details)).not.toContain(key);
    }
  });

  it('gives StoreError(io) quickly when the endpoint is unreachable', async () => {
    // A port that was free a moment ago: connections to it are refused.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const started = Date.now();
    const err = await errorOf(
      createS3BlobStore({
        bucket: BUCKET,
        endpoint: `http://127.0.0.1:${port}`,
        credentials: S3RVER_CREDENTIALS,
        maxAttempts: 1,
        connectionTimeoutMs: 1_000,
        requestTimeoutMs: 2_000,
      }),
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('io');
    expect((err as StoreError).message).toMatch(/Check the endpoint/);
  });

  it('opens from s3://bucket/prefix with env-style settings', async () => {
    const blobs = await openS3BlobStoreFromUrl(
      `s3://${BUCKET}/from-url/`,
      { FLOCK_S3_ENDPOINT: s3.endpoint },
      { credentials: S3RVER_CREDENTIALS },
    );
    try {
      expect(blobs.prefix).toBe('from-url');
      const { hash } = await blobs.put(text('via url'));
      await expect(
        s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `from-url/${hash.slice(0, 2)}/${hash.slice(2)}` })),
      ).resolves.toMatchObject({ ContentLength: 7 });
    } finally {
      blobs.close();
    }
    await expect(
      openS3BlobStoreFromUrl(`s3://${BUCKET}/x`, {
        FLOCK_S3_ENDPOINT: s3.endpoint,
        FLOCK_S3_FORCE_PATH_STYLE: 'maybe',
      }),
    ).rejects.toMatchObject({ code: 'invalid' });
  });
});
