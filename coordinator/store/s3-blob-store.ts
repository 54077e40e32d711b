/**
 * Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph, R2...), for
 * large fleets whose coordinators share neither a folder nor want blobs in
 * PostgreSQL. Same content addressing and key layout as the folder store:
 * `<prefix>/ab/cdef...` (sha256 hex).
 *
 * The bucket is storage we do not control, so a get hashes what came back and
 * refuses bytes that do not match their key: a tampered or damaged object is
 * an error, never a blob. A put sends Content-MD5, which S3 and MinIO verify,
 * so bytes damaged on the way up are refused by the server.
 */
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { assertBlobHash, sha256Hex } from './blob-store.ts';
import type { BlobStore } from './blob-store.ts';
import { StoreError } from './errors.ts';

/** Static S3 keys; prefer the SDK's default chain outside tests. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix, e.g. `flock/prod`; leading and trailing slashes are dropped. */
  prefix?: string;
  /** A ready client; when given, the connection options below are ignored and `close()` leaves it open. */
  client?: S3Client;
  /** e.g. `http://127.0.0.1:9000` for MinIO; omit for AWS S3. */
  endpoint?: string;
  /** 'us-east-1' by default. */
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`); true by default when `endpoint` is set. */
  forcePathStyle?: boolean;
  /** Static keys; by default the SDK's chain (AWS_ACCESS_KEY_ID..., AWS_PROFILE, instance roles). */
  credentials?: S3Credentials;
  /** Tries per request, counting the first; the SDK's default (3) when unset. */
  maxAttempts?: number;
  /** Give up connecting after this long (ms); 5,000 by default. */
  connectionTimeoutMs?: number;
  /** Give up on a silent socket after this long (ms); 60,000 by default. */
  requestTimeoutMs?: number;
  /** Largest blob `put` accepts; 256 MiB by default. */
  maxBytes?: number;
  /** Create the bucket when missing (tests, dev); otherwise a missing bucket is an error. */
  createBucket?: boolean;
}

/** A BlobStore on S3, with where it writes and a way to release its connections. */
export interface S3BlobStore extends BlobStore {
  readonly bucket: string;
  /** The normalized prefix ('' for none). */
  readonly prefix: string;
  /** Releases the sockets of a client this store built; a client passed in is left alone. */
  close(): void;
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Drops leading and trailing slashes; throws StoreError('invalid') on empty,
 * `.` or `..` segments, which S3-compatible servers treat inconsistently.
 *
 * @example
 * ```ts
 * normalizeS3Prefix('/flock/prod/'); // 'flock/prod'
 * ```
 */
export function normalizeS3Prefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  if (trimmed.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new StoreError(
      'invalid',
      `S3 key prefix ${JSON.stringify(trimmed)} has an empty, '.' or '..' segment; use plain names separated by single slashes, e.g. 'flock/prod'.`,
      { prefix: trimmed },
    );
  }
  return trimmed;
}

function assertBucketName(bucket: string): void {
  if (!BUCKET_RE.test(bucket) || bucket.includes('..')) {
    throw new StoreError(
      'invalid',
      `S3 bucket name ${JSON.stringify(bucket.slice(0, 80))} is not valid: use 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit.`,
      { bucket: bucket.slice(0, 80) },
    );
  }
}

/**
 * Splits `s3://bucket/some/prefix` into bucket and normalized prefix; throws
 * StoreError('invalid') for anything else (other schemes, credentials, ports,
 * queries). Credentials never go in the URL: they come from the SDK's chain.
 *
 * @example
 * ```ts
 * parseS3BlobUrl('s3://flock-blobs/prod/'); // { bucket: 'flock-blobs', prefix: 'prod' }
 * ```
 */
export function parseS3BlobUrl(url: string): { bucket: string; prefix: string } {
  const invalid = (why: string) =>
    new StoreError('invalid', `Blob URL must look like s3://bucket/optional/prefix: ${why}.`, {});
  if (typeof url !== 'string' || !url.startsWith('s3://')) throw invalid(`it must start with s3://`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('it could not be parsed');
  }
  if (parsed.username || parsed.password)
    throw invalid('it must not carry credentials (use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or a profile)');
  if (parsed.port) throw invalid('it must not carry a port (set the endpoint with FLOCK_S3_ENDPOINT)');
  if (parsed.search || parsed.hash) throw invalid('it must not carry a query or fragment');
  if (!parsed.hostname) throw invalid('the bucket name is missing');
  assertBucketName(parsed.hostname);
  // The path as written: URL parsing would resolve `a/../b` to `b` and hide it.
  const rest = url.slice('s3://'.length);
  const path = rest.includes('/') ? rest.slice(rest.indexOf('/')) : '';
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw invalid('its prefix has a malformed %-escape');
  }
  return { bucket: parsed.hostname, prefix: normalizeS3Prefix(decoded) };
}

/** The settings `openS3BlobStoreFromUrl` reads; `process.env` fits. */
export interface S3BlobEnv {
  /** Endpoint of an S3-compatible server, e.g. http://127.0.0.1:9000; unset for AWS. */
  FLOCK_S3_ENDPOINT?: string;
  /** Falls back to AWS_REGION, then 'us-east-1'. */
  FLOCK_S3_REGION?: string;
  AWS_REGION?: string;
  /** 'true' or 'false'; true by default when an endpoint is set. */
  FLOCK_S3_FORCE_PATH_STYLE?: string;
}

/**
 * Opens the store named by `--blobs s3://bucket/prefix`, with connection
 * settings from env-style variables; `overrides` wins over both.
 *
 * @example
 * ```ts
 * const blobs = await openS3BlobStoreFromUrl('s3://flock-blobs/prod', process.env);
 * ```
 */
export async function openS3BlobStoreFromUrl(
  url: string,
  env: S3BlobEnv = process.env,
  overrides: Partial<S3BlobStoreOptions> = {},
): Promise<S3BlobStore> {
  const { bucket, prefix } = parseS3BlobUrl(url);
  const endpoint = env.FLOCK_S3_ENDPOINT?.trim() || undefined;
  const pathStyle = env.FLOCK_S3_FORCE_PATH_STYLE?.trim().toLowerCase();
  if (pathStyle !== undefined && pathStyle !== '' && pathStyle !== 'true' && pathStyle !== 'false') {
    throw new StoreError(
      'invalid',
      `FLOCK_S3_FORCE_PATH_STYLE must be 'true' or 'false', got ${JSON.stringify(pathStyle.slice(0, 20))}.`,
      {},
    );
  }
  return createS3BlobStore({
    bucket,
    prefix,
    endpoint,
    region: env.FLOCK_S3_REGION?.trim() || env.AWS_REGION?.trim() || 'us-east-1',
    forcePathStyle: pathStyle === 'true' ? true : pathStyle === 'false' ? false : endpoint !== undefined,
    ...overrides,
  });
}

/**
 * Opens a BlobStore on an S3 bucket, checking first that the bucket is there.
 *
 * @example
 * ```ts
 * const blobs = await createS3BlobStore({ bucket: 'flock-blobs', prefix: 'prod', endpoint: 'http://127.0.0.1:9000' });
 * const { hash } = await blobs.put(bytes);
 * blobs.close();
 * ```
 */
export async function createS3BlobStore(options: S3BlobStoreOptions): Promise<S3BlobStore> {
  const { bucket } = options;
  assertBucketName(bucket);
  const prefix = normalizeS3Prefix(options.prefix);
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  const ownsClient = options.client === undefined;
  const client =
    options.client ??
    new S3Client({
      endpoint: options.endpoint,
      region: options.region ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      credentials: options.credentials,
      maxAttempts: options.maxAttempts,
      requestHandler: {
        connectionTimeout: options.connectionTimeoutMs ?? 5_000,
        requestTimeout: options.requestTimeoutMs ?? 60_000,
      },
      // Since 3.729 the SDK adds CRC32 checksums to every upload (as
      // aws-chunked bodies with trailers when streaming) and validates response
      // checksums. Older MinIO, Ceph and other S3-compatible servers reject or
      // mangle those requests. Integrity comes instead from Content-MD5 on put,
      // which every S3-compatible server checks, and the sha256 check on get.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  const secrets = [
    options.credentials?.accessKeyId,
    options.credentials?.secretAccessKey,
    options.credentials?.sessionToken,
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);

  const keyOf = (hash: string): string => {
    assertBlobHash(hash);
    const tail = `${hash.slice(0, 2)}/${hash.slice(2)}`;
    return prefix ? `${prefix}/${tail}` : tail;
  };

  /** One S3 call, with every failure but "not found" turned into StoreError('io'). */
  async function call<T>(what: string, key: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      throw ioError(what, bucket, key, e, secrets);
    }
  }

  /** HeadObject's size, or null when the object is absent. */
  async function head(key: string, what: string): Promise<number | null> {
    try {
      const r = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return r.ContentLength ?? 0;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw ioError(what, bucket, key, e, secrets);
    }
  }

  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (e) {
    if (!isMissingBucket(e)) {
      if (ownsClient) client.destroy();
      throw ioError('check that the bucket exists', bucket, undefined, e, secrets);
    }
    if (!options.createBucket) {
      if (ownsClient) client.destroy();
      throw new StoreError(
        'not_found',
        `S3 bucket "${bucket}" does not exist${options.endpoint ? ` at ${options.endpoint}` : ''}: create it first (e.g. \`aws s3 mb s3://${bucket}\`), or check the bucket name and endpoint.`,
        { bucket },
      );
    }
    await call('create the bucket', undefined, () => client.send(new CreateBucketCommand({ Bucket: bucket })));
  }

  return {
    bucket,
    prefix,
    close() {
      if (ownsClient) client.destroy();
    },
    async put(bytes) {
      if (bytes.byteLength > maxBytes) {
        throw new StoreError('too_large', `Blob of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes} bytes.`, {
          size: bytes.byteLength,
          maxBytes,
        });
      }
      const hash = sha256Hex(bytes);
      const key = keyOf(hash);
      // Same key means same bytes, unless the object was damaged; a size that
      // differs is damage we can repair by writing the right bytes again.
      if ((await head(key, `look up blob ${hash}`)) === bytes.byteLength) return { hash, size: bytes.byteLength };
      await call(`store blob ${hash}`, key, () =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: bytes,
            ContentLength: bytes.byteLength,
            ContentMD5: createHash('md5').update(bytes).digest('base64'),
            ContentType: 'application/octet-stream',
          }),
        ),
      );
      return { hash, size: bytes.byteLength };
    },
    async get(hash) {
      const key = keyOf(hash);
      let bytes: Uint8Array;
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        bytes = r.Body ? await r.Body.transformToByteArray() : new Uint8Array(0);
      } catch (e) {
        if (isNotFound(e)) return null;
        throw ioError(`read blob ${hash}`, bucket, key, e, secrets);
      }
      const actual = sha256Hex(bytes);
      if (actual !== hash) {
        throw new StoreError(
          'io',
          `S3 object s3://${bucket}/${key} is corrupt: its ${bytes.byteLength} bytes hash to ${actual}, not to its key. It was changed outside Flock; delete it and upload the blob again.`,
          { bucket, key, hash, actual, corrupt: true },
        );
      }
      return bytes;
    },
    async has(hash) {
      const key = keyOf(hash);
      return (await head(key, `look up blob ${hash}`)) !== null;
    },
    async size(hash) {
      const key = keyOf(hash);
      return head(key, `size blob ${hash}`);
    },
    async delete(hash) {
      const key = keyOf(hash);
      // DeleteObject succeeds on absent keys, so ask first to report absence.
      if ((await head(key, `look up blob ${hash}`)) === null) return false;
      await call(`delete blob ${hash}`, key, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
      return true;
    },
  };
}

/** The SDK's shape of a service or network error, as far as this file reads it. */
interface S3ErrorLike {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * An absent object. HeadObject has no error body, so its 404 arrives as
 * 'NotFound'; a bucket that vanished after opening is a fault, not a miss.
 */
function isNotFound(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const err = e as S3ErrorLike;
  if (err.name === 'NoSuchBucket' || err.Code === 'NoSuchBucket') return false;
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404;
}

function isMissingBucket(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const err = e as S3ErrorLike;
  return err.name === 'NoSuchBucket' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404;
}

function ioError(
  what: string,
  bucket: string,
  key: string | undefined,
  e: unknown,
  secrets: readonly string[],
): StoreError {
  const err = (typeof e === 'object' && e !== null ? e : {}) as S3ErrorLike;
  const status = err.$metadata?.httpStatusCode;
  // HEAD answers carry no error body, so the SDK can only say 'Unknown'; the status says more.
  const bodyless = err.name === 'Unknown' || err.name === 'UnknownError' || err.message === 'UnknownError';
  const code = bodyless && status === 403 ? 'AccessDenied' : (err.Code ?? err.code ?? err.name ?? 'UnknownError');
  let message = bodyless ? 'no error details (HEAD request)' : String(err.message ?? e);
  for (const s of secrets) message = message.split(s).join('***');
  const where = key === undefined ? `s3://${bucket}` : `s3://${bucket}/${key}`;
  const hint =
    status === 403 || code === 'AccessDenied' || code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch'
      ? ' Check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and the bucket policy.'
      : status === undefined
        ? ' Check the endpoint (FLOCK_S3_ENDPOINT) and the network.'
        : '';
  return new StoreError(
    'io',
    `Could not ${what} at ${where}: ${code}${status ? ` (HTTP ${status})` : ''}: ${message}.${hint}`,
    { bucket, key, s3Code: code, httpStatus: status },
    { cause: e },
  );
}
